"""Service layer: one use case per function, one transaction each, ports for I/O."""
