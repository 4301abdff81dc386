"""Finding the programs the local processes are (redis-server, initdb, pgbouncer, kubectl...).

Debian keeps PostgreSQL's server programs out of PATH, in /usr/lib/postgresql/<version>/bin,
and a few daemons in /usr/sbin; tools pinned by requirements-dev.lock live beside the interpreter.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
from pathlib import Path


class ToolMissing(RuntimeError):
    """A program is not installed; the message says which and how to get it."""


def find_tool(name: str, *, install: str) -> str:
    """The program's path: the virtual environment's first (its version is the locked one),
    then PATH, /usr/sbin and the newest PostgreSQL's bin. `install` says how to get it."""
    candidates = [
        str(Path(sys.executable).parent / name),
        shutil.which(name),
        f"/usr/sbin/{name}",
        *sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True),
    ]
    for path in candidates:
        if path is not None and os.access(path, os.X_OK):
            return path
    raise ToolMissing(f"{name} is not installed ({install})")
