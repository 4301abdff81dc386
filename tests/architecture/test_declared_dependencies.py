"""Every package the code imports is declared where it is installed, and the locks pin exactly
what pyproject.toml declares (docs/development.md, "Packages and the locks").

The imports are read from the code itself (every `import`, function-level ones included), not
from a list: production code (app/ outside app/dev/, and the migrations) may import only
[project] dependencies, because the image installs requirements.lock and nothing else;
development mode (app/dev/) may use the `embedded` extra too, the sandbox the `sandbox` extra.

The locks are checked against the package metadata installed in .venv (offline): each lock holds
the dependency closure of what it locks, no more, every pin with hashes and no index URL, and a
package in both has one version. That they are what `scripts/lock` writes from the package index
is checked by running it (docs/development.md): it needs the network, so it is not a test here.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.paths import REPO_ROOT

PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
# Our own top-level packages, and the migrations folder's name, which is also alembic's.
FIRST_PARTY = {"app", "sandbox", "tests", "local_processes", "bench"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
# The platform the locks are made for (scripts/lock: Linux, CPython 3.11). uv reads 3.11 as
# 3.11.0, so a marker on the patch level (redis wants async-timeout below 3.11.3) counts as met.
ENVIRONMENT = default_environment() | {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
}


def _imported_modules(paths: Iterable[Path]) -> set[str]:
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - FIRST_PARTY - {"__future__"}


def _distributions_of(modules: set[str]) -> dict[str, set[str]]:
    """Each imported module's installing distribution(s), by canonical name."""
    owners = metadata.packages_distributions()
    unknown = sorted(name for name in modules if name not in owners)
    assert not unknown, f"imported but installed by no distribution in .venv: {unknown}"
    return {name: {canonicalize_name(dist) for dist in owners[name]} for name in modules}


def _declared(requirements: Iterable[str]) -> set[str]:
    return {canonicalize_name(Requirement(line).name) for line in requirements}


def _undeclared(paths: Iterable[Path], allowed: set[str]) -> dict[str, set[str]]:
    owners = _distributions_of(_imported_modules(paths))
    return {module: dists for module, dists in owners.items() if not dists & allowed}


def _production_code() -> list[Path]:
    app = REPO_ROOT / "app"
    dev = app / "dev"
    code = [path for path in app.rglob("*.py") if dev not in path.parents]
    return code + sorted((REPO_ROOT / "alembic").rglob("*.py"))


def test_production_code_imports_only_runtime_dependencies() -> None:
    runtime = _declared(PROJECT["dependencies"])
    assert _undeclared(_production_code(), runtime) == {}, (
        "imported by app/ or alembic/ but not in pyproject's [project] dependencies: the image "
        "would lack them"
    )


def test_development_mode_and_the_sandbox_import_only_what_their_extras_add() -> None:
    runtime = _declared(PROJECT["dependencies"])
    extras = PROJECT["optional-dependencies"]
    embedded = runtime | _declared(extras["embedded"])
    assert _undeclared((REPO_ROOT / "app" / "dev").rglob("*.py"), embedded) == {}
    sandbox = runtime | _declared(extras["sandbox"])
    assert _undeclared((REPO_ROOT / "sandbox").rglob("*.py"), sandbox) == {}


def _pins(lock: str) -> dict[str, str]:
    text = (REPO_ROOT / lock).read_text()
    pins = {canonicalize_name(m[1]): m[2] for m in map(PIN.match, text.splitlines()) if m}
    # No index or mirror address in a committed file: installs use the client's own settings.
    assert not re.search(r"^\s*(-i|--index-url|--extra-index-url|--find-links|-f)\b", text, re.M)
    entries = re.split(r"\n(?=[A-Za-z0-9])", text)
    unhashed = [e.split()[0] for e in entries if PIN.match(e) and "--hash=sha256:" not in e]
    assert not unhashed, f"{lock}: pins without hashes: {unhashed}"
    assert "#    scripts/lock" in text, f"{lock} was not written by scripts/lock"
    return pins


@cache
def _requires(name: str) -> tuple[str, ...]:
    try:
        return tuple(metadata.distribution(name).requires or ())
    except metadata.PackageNotFoundError:
        message = f"{name} is not installed in .venv: run scripts/bootstrap.sh"
        raise AssertionError(message) from None


def _closure(roots: Iterable[str]) -> set[str]:
    """The distributions `roots` need on Linux and CPython 3.11, extras followed, from the
    metadata installed in .venv (which holds every package of requirements-dev.lock)."""
    seen: set[tuple[str, str]] = set()
    todo = [(Requirement(line), "") for line in roots]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate(ENVIRONMENT | {"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        if name == canonicalize_name(PROJECT["name"]):
            # The project's own extras (dev = [sandbox, embedded] + tools).
            for own in requirement.extras:
                todo += [(Requirement(line), "") for line in PROJECT["optional-dependencies"][own]]
            continue
        for wanted in {"", *requirement.extras} - {e for n, e in seen if n == name}:
            seen.add((name, wanted))
            todo += [(Requirement(line), wanted) for line in _requires(name)]
    return {name for name, _ in seen}


def test_the_runtime_lock_pins_what_production_declares_and_nothing_else() -> None:
    pins = _pins("requirements.lock")
    assert set(pins) == _closure(PROJECT["dependencies"])
    for line in PROJECT["dependencies"]:
        requirement = Requirement(line)
        assert pins[canonicalize_name(requirement.name)] in requirement.specifier, line


def test_the_development_lock_adds_the_extras_at_the_runtime_locks_versions() -> None:
    runtime = _pins("requirements.lock")
    development = _pins("requirements-dev.lock")
    extras = PROJECT["optional-dependencies"]
    assert set(development) == _closure([*PROJECT["dependencies"], *extras["dev"]])
    assert {name: development[name] for name in runtime} == runtime
