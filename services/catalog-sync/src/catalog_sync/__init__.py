"""catalog-sync: keeps every store's products, prices and stock in line with the catalogue."""

__version__ = "0.1.0"
