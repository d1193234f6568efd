"""order-ingest: polls every eligible store's orders and publishes them exactly once."""

__version__ = "0.1.0"
