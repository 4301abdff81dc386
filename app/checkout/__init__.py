"""The checkout domain: services that orchestrate the cache, Instacart and Postgres."""
