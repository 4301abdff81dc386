"""Benchmarks measure what production runs: real Postgres and Redis, never development mode's
embedded parts (app/dev/embedded.py). Servers these modules start inherit the environment, and the
fixed development secret lets tokens minted here pass there. Values set beforehand win."""

import os

from app.settings import DEV_JWT_SECRET

os.environ.setdefault("BFF_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("BFF_REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("BFF_INSTACART_BASE_URL", "http://127.0.0.1:8081")
os.environ.setdefault("BFF_AUTH_JWT_SECRET", DEV_JWT_SECRET)
