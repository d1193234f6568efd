"""The store-registry domain: plain Python, no I/O."""
