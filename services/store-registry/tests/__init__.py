"""store-registry tests."""
