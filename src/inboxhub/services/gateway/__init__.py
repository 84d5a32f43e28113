"""Gateway: one ASGI app mounting every service's routes (embedded mode), JWT checks,
problem+json errors, health, readiness and metrics."""
