"""One package per service; each depends on ports only, never on an adapter."""
