"""Running the service: health, metrics, problem+json at the edges, production's refusals."""
