"""store-registry: the store management API, settings, reference lists, audit log, and the
`kervan.stores.v1` event stream."""

__version__ = "0.1.0"
