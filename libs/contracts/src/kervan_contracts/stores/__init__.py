"""Store events (`kervan.stores.v1`)."""
