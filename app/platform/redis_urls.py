"""The Redis URLs the service accepts, checked when settings load (no I/O here).

- ``redis://`` / ``rediss://`` (and ``unix://``): one server, as redis-py reads them; with
  ``BFF_REDIS_CLUSTER=true`` the URL is a seed node of a Redis Cluster instead.
- ``redis+sentinel://[[user]:password@]host1:port1,host2:port2/<service_name>[/db]`` (and
  ``rediss+sentinel://`` for TLS): the master that the sentinels name. The user and password
  are the master's; the sentinels' own password, if they have one, is a setting of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
PLAIN_SCHEMES = ("redis", "rediss", "unix")
DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int
    username: str | None
    password: str | None
    ssl: bool


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def is_sentinel_url(url: str) -> bool:
    return scheme_of(url) in SENTINEL_SCHEMES


def check_redis_url(url: str) -> None:
    """Raises ValueError, never quoting the URL (it may hold a password)."""
    scheme = scheme_of(url)
    if scheme in SENTINEL_SCHEMES:
        parse_sentinel_url(url)
    elif scheme not in PLAIN_SCHEMES:
        raise ValueError(
            "BFF_REDIS_URL must start with redis://, rediss://, unix://, redis+sentinel:// "
            "or rediss+sentinel://"
        )


def parse_sentinel_url(url: str) -> SentinelTarget:
    """The sentinels, the master's service name and database, and the master's credentials."""
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError("a redis+sentinel:// URL takes no query or fragment")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    sentinels = tuple(_host_port(item) for item in hosts.split(",") if item.strip())
    if not sentinels:
        raise ValueError("a redis+sentinel:// URL needs at least one sentinel host")
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not 1 <= len(path) <= 2:
        raise ValueError(
            "a redis+sentinel:// URL ends with /<service_name> or /<service_name>/<db>"
        )
    if len(path) == 2 and not path[1].isdigit():
        raise ValueError("the database of a redis+sentinel:// URL must be a number")
    return SentinelTarget(
        sentinels=sentinels,
        service_name=path[0],
        db=int(path[1]) if len(path) == 2 else 0,
        username=unquote(username) or None,
        password=unquote(password) or None,
        ssl=parts.scheme.lower() == "rediss+sentinel",
    )


def _host_port(item: str) -> tuple[str, int]:
    item = item.strip()
    if item.startswith("["):  # [IPv6]:port
        host, _, rest = item[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = item.partition(":")
    if not host:
        raise ValueError("a sentinel host is empty in the redis+sentinel:// URL")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError("a sentinel port in the redis+sentinel:// URL is not a port number")
    return host, int(port) if port else DEFAULT_SENTINEL_PORT
