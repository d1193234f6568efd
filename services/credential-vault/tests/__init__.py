"""Tests of credential-vault."""
