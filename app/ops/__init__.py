"""Operations: liveness, readiness and the Prometheus scrape."""
