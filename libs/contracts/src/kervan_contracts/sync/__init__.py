"""Marketplace push results (`kervan.sync-results.v1`)."""
