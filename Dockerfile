# The checkout BFF's image: one uvicorn process as a non-root user, nothing to build at run time.
# Build: scripts/image (buildah), or docker build -t checkout-bff . ; README "The container image".
#
# The base is an argument so that a machine that cannot pull builds on a local Debian bookworm
# with Python 3.11 (scripts/image --local-base). Both bases have python3 on PATH: the official
# image in /usr/local/bin, Debian's in /usr/bin; everything below uses python3 or the venv's.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder

# pip trusts the system's CA bundle (a build behind a TLS-intercepting proxy mounts the host's
# over it for the RUN steps) rather than the copy of certifi vendored inside pip.
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
COPY requirements.lock pyproject.toml ./
# requirements.lock pins the service's packages and the developers' tools alike. Every file it
# names is downloaded and checked against its hash; then only the service's own dependencies
# (pyproject's [project] list) are installed from those checked files, offline, so nothing
# unhashed gets in and no test tool gets into the image. pip itself leaves the environment last.
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip download --no-cache-dir --require-hashes --no-deps \
        --dest /build/wheels -r requirements.lock \
    && python3 -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
        > runtime-requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /build/wheels \
        -r runtime-requirements.txt \
    && /opt/venv/bin/pip uninstall --yes pip setuptools

WORKDIR /opt/service
COPY alembic.ini ./
COPY alembic/ alembic/
COPY app/ app/
# The sandbox ships too: a few hundred kilobytes that let the dev overlay and storefront
# developers run the Instacart simulator from the same image (python -m sandbox). It listens
# only when started that way; production runs `python -m app serve` and never imports it.
COPY sandbox/ sandbox/
# The root filesystem is read-only at run time: compile now, checked against the sources' hashes
# (not their timestamps, which a copy between stages need not keep).
RUN python3 -m compileall -q --invalidation-mode checked-hash app sandbox alembic


FROM ${BASE_IMAGE}

ARG BASE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="instacart-checkout-bff" \
      org.opencontainers.image.description="Checkout backend-for-frontend in front of Instacart Connect, with its sandbox" \
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

# Owned by root and only readable by the service: it cannot change its own code.
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/service /opt/service

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /opt/service
USER 10001:10001
EXPOSE 8080
# One process: uvicorn, no shell in front (it receives SIGTERM itself), no workers (replicas
# scale out). Migrations are a separate run of the image: alembic upgrade head.
CMD ["python", "-m", "app", "serve", "--host", "0.0.0.0", "--port", "8080"]
