"""marketplace-sim: a local stand-in for six marketplace seller APIs."""
