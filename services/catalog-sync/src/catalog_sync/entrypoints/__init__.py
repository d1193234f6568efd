"""catalog-sync entrypoints."""
