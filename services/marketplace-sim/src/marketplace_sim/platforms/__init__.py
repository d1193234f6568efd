"""One module per platform; each exposes `spec(sim) -> PlatformSpec`."""
