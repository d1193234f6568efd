"""Order events (`kervan.orders.v1`)."""
