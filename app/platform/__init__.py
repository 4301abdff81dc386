"""The platform beneath every feature: errors and problem+json, middleware, logging, metrics,
Redis and Postgres connections, the shared cache and rate limits. It imports no feature."""
