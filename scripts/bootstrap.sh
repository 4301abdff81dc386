#!/usr/bin/env bash
# Shared set-up for the run and test commands: a virtual environment with the locked packages.
# Sourced, not executed. It installs requirements-dev.lock (the service's packages, the sandbox's
# server, development mode's, the tests' and the tools', uv included) and re-installs only when
# that lock changes. The image installs requirements.lock alone (docs/container-image.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.deps-stamp"
PYTHON_BIN="${PYTHON:-python3.11}"
command -v "$PYTHON_BIN" >/dev/null 2>&1 || PYTHON_BIN=python3

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtual environment in .venv"
  "$PYTHON_BIN" -m venv "$VENV"
fi
want="$(sha256sum "$ROOT/requirements-dev.lock" | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "==> installing locked packages (requirements-dev.lock)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
    -r "$ROOT/requirements-dev.lock"
  echo "$want" >"$STAMP"
fi

# PostgreSQL and Redis run on every machine of this project; start them if they are down.
ensure_services() {
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    echo "==> starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "==> starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  fi
  for _ in $(seq 1 50); do
    pg_isready -h 127.0.0.1 -p 5432 -q && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 \
      && return 0
    sleep 0.2
  done
  echo "PostgreSQL or Redis did not come up" >&2
  return 1
}

# Creates a database if it is missing (trust auth, as on every machine of this project).
ensure_database() {
  local name="$1"
  psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$name'" \
    | grep -q 1 || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE \"$name\""
}
