"""catalog-sync domain."""
