# The checkout BFF's image: one granian process as a non-root user, nothing to build at run time.
# Build: scripts/image (buildah), or docker build -t checkout-bff . ; docs/container-image.md.
#
# Two targets. The default (last) one, `service`, is production's: the service, its migrations
# and requirements.lock's packages, nothing else. `with-sandbox` adds the Instacart sandbox and
# its server (requirements-sandbox.lock) for the dev overlay and storefront developers:
#   docker build --target with-sandbox -t checkout-bff:dev .
#
# The base is pinned by digest: the python:3.11-slim-bookworm index (Python 3.11.16) as
# published on Docker Hub; docs/container-image.md says where the digest was read and how to
# move it. It is an argument so that a machine that cannot pull builds on a local Debian
# bookworm with Python 3.11 (scripts/image --local-base). Both have python3 on PATH: the
# official image in /usr/local/bin, Debian's in /usr/bin; everything below uses python3.
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:528257d48c1da0dcecc2e725d1ae34498d60c965f1241e39cd6a85a8859bdf84

FROM ${BASE_IMAGE} AS builder

# pip trusts the system's CA bundle (a build behind a TLS-intercepting proxy mounts the host's
# over it for the RUN steps) rather than the copy of certifi vendored inside pip.
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
COPY requirements.lock requirements-sandbox.lock ./
# The service's environment never holds an installer: pip lives in a venv of its own here and
# installs into /opt/venv from outside (--python). Every package is checked against the lock's
# hashes, and pip refuses a dependency the lock does not pin, so the lock is complete as well.
# Wheels only: nothing is compiled, so the builder needs no compiler.
RUN python3 -m venv /build/installer \
    && python3 -m venv --without-pip /opt/venv \
    && /build/installer/bin/pip --python /opt/venv/bin/python install --require-hashes \
        --only-binary :all: -r requirements.lock

WORKDIR /opt/service
COPY alembic.ini ./
COPY alembic/ alembic/
COPY app/ app/
# The root filesystem is read-only at run time: compile now, checked against the sources' hashes
# (not their timestamps, which a copy between stages need not keep).
RUN python3 -m compileall -q --invalidation-mode checked-hash app alembic


# The sandbox and uvicorn, which serves it (python -m sandbox), over the same packages.
FROM builder AS sandbox-builder
RUN /build/installer/bin/pip --python /opt/venv/bin/python install --require-hashes \
        --only-binary :all: -r /build/requirements-sandbox.lock
COPY sandbox/ sandbox/
RUN python3 -m compileall -q --invalidation-mode checked-hash sandbox


FROM ${BASE_IMAGE} AS runtime

ARG BASE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="instacart-checkout-bff" \
      org.opencontainers.image.description="Checkout backend-for-frontend in front of Instacart Connect" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"

# A numeric user with an entry in /etc/passwd: Kubernetes' runAsNonRoot can verify the number,
# and libraries that look the user up (getpass, asyncpg's default user) find a name.
# --no-log-init: a high uid would otherwise grow /var/log/lastlog into a large sparse file.
RUN groupadd --gid 10001 bff \
    && useradd --uid 10001 --gid 10001 --no-log-init --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin bff

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /opt/service
USER 10001:10001
EXPOSE 8080
# One process: granian, embedded in `python -m app serve`, no shell in front (it receives
# SIGTERM itself), no workers (replicas scale out). Migrations are a separate run of the image:
# alembic upgrade head.
CMD ["python", "-m", "app", "serve", "--host", "0.0.0.0", "--port", "8080"]


# Development only (the dev overlay's sandbox Deployment runs `python -m sandbox` from it).
FROM runtime AS with-sandbox
LABEL org.opencontainers.image.description="Checkout backend-for-frontend in front of Instacart Connect, with the Instacart sandbox (development only)"
# Owned by root and only readable by the service: it cannot change its own code.
COPY --from=sandbox-builder /opt/venv /opt/venv
COPY --from=sandbox-builder /opt/service /opt/service


# Production: the default target.
FROM runtime AS service
# Owned by root and only readable by the service: it cannot change its own code.
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/service /opt/service
