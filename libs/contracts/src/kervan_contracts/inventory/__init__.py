"""Stock movement events (`kervan.stock-movements.v1`)."""
