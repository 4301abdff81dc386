"""System-level suites: the service whole, as real processes or as shipped.

faults/    real processes, injected faults, a history checker (marker `faults`)
hostile/   each of issue 14's attacks against a served instance in production mode
scaleout/  Redis Cluster, Redis Sentinel and PgBouncer under the service
browser/   the demo storefront in a real browser
image/     the container image, built and run (marker `image`)
deploy/    the Kubernetes manifests rendered and checked
openapi/   the API contract: the committed document, its exactness, schemathesis, TypeScript
embedded/  single-process development mode, and the bare-machine check
"""
