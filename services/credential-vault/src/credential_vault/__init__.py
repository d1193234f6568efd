"""credential-vault: marketplace credentials in Vault, API tests, OAuth consent."""

__version__ = "0.1.0"
