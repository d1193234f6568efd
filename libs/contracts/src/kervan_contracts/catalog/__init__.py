"""Catalogue events published by the platform (`kervan.catalog.v1`)."""
