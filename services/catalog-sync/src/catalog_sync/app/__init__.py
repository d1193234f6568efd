"""catalog-sync app."""
