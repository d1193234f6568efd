"""catalog-sync adapters."""
