"""Credential and API-status events (`kervan.credentials.v1`, `kervan.api-status.v1`)."""
