"""The layout's rules (docs/architecture.md), checked on the code's own imports.

- `platform/` and `instacart/` import no feature;
- no module outside `dev/` imports `dev/` at module level (the composition root may, lazily,
  when a part is left unconfigured outside production);
- production never loads development mode at all;
- a status, placement state or fulfillment type is spelled in `orders/vocabulary.py` only;
- no module imports a test module or a conftest.py; bench/ imports nothing from tests/;
  local_processes/ imports neither, and the service (app/, sandbox/) none of the three;
- no test package is named as a standard-library module.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
FEATURES = (
    "auth",
    "stores",
    "reservations",
    "orders",
    "live_status",
    "callbacks",
    "ops",
    "dev",
)


def _modules() -> list[Path]:
    return sorted(APP.rglob("*.py"))


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "app" or name.startswith("app.")}


def _package(path: Path) -> str:
    parts = path.relative_to(APP).parts
    return parts[0] if len(parts) > 1 else ""


def test_platform_and_the_instacart_adapter_import_no_feature() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules()
        if _package(path) in ("platform", "instacart")
        for name in _imports(path, top_level_only=False)
        if name.split(".")[1] in FEATURES
    ]
    assert offenders == []


def test_no_module_outside_dev_imports_dev_at_module_level() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in [*_modules(), ROOT / "alembic" / "env.py"]
        if path.is_relative_to(APP) is False or _package(path) != "dev"
        for name in _imports(path, top_level_only=True)
        if name == "app.dev" or name.startswith("app.dev.")
    ]
    assert offenders == []


def test_production_never_loads_development_mode() -> None:
    # A fresh interpreter: the app built and served (lifespan included) with production's
    # settings, then the modules it loaded.
    script = """
import asyncio, sys
from asgi_lifespan import LifespanManager
from app.main import create_app
from app.settings import Settings
from tests.support.settings import production_values

async def main():
    app = create_app(Settings(**production_values()))
    async with LifespanManager(app):
        pass
    print(sorted(m for m in sys.modules if m == "app.dev" or m.startswith("app.dev.")))

asyncio.run(main())
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


# Every workflow status, placement state, idempotency state and fulfillment type, quoted.
_SPELLED = re.compile(
    r"""["'](brand_new|acknowledged|picking|staging|staged|delivering|delivered|canceled|"""
    r"""rescheduled|in_progress|last_mile)["']"""
)


def test_statuses_and_states_are_spelled_in_the_vocabulary_only() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _modules()
        # The Instacart adapter speaks Instacart's wire format (its paths and models spell the
        # upstream's fulfillment types), and it imports no feature; development mode may spell.
        if path != APP / "orders" / "vocabulary.py" and _package(path) not in ("dev", "instacart")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _SPELLED.search(line)
    ]
    assert offenders == []


# Features build on the ones before them, never on a later one. The vocabulary is the one leaf
# every feature may read (stores and reservations spell fulfillment types with it).
LAYERS = {
    "platform": 0,
    "instacart": 1,
    "auth": 1,
    "stores": 2,
    "reservations": 3,
    "orders": 4,
    "live_status": 5,
    "callbacks": 5,
    "ops": 6,
    "dev": 6,
}


def test_features_build_only_on_the_ones_below_them() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules()
        if _package(path) in LAYERS
        for name in _imports(path, top_level_only=False)
        if name != "app.orders.vocabulary"
        and len(name.split(".")) > 2
        and name.split(".")[1] in LAYERS
        and LAYERS[name.split(".")[1]] > LAYERS[_package(path)]
    ]
    assert offenders == []


# --- tests, benchmarks and the processes they start ---------------------------------------------


# Each module's imports as absolute names: `from . import x` and `from .x import y` resolved
# against the module's own package, and `from a import b` counted as both `a` and `a.b` (b may
# be a module).
def _absolute_imports(path: Path) -> set[str]:
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _imported_names(*folders: str) -> list[tuple[Path, str]]:
    return [(path, name) for path in _python_files(*folders) for name in _absolute_imports(path)]


def test_no_module_imports_a_test_module_or_a_conftest() -> None:
    # What two test modules share is a module of its own (tests/support/, or beside them).
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path, name in _imported_names("tests", "bench", "local_processes")
        if name.split(".")[-1].startswith("test_") or name.split(".")[-1] == "conftest"
    ]
    assert offenders == []


def _importing(folders: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path, name in _imported_names(*folders)
        if name.split(".")[0] in forbidden
    ]


def test_the_benchmarks_import_nothing_from_the_tests() -> None:
    # What both need (servers, Postgres, Redis, databases, waiting) is local_processes'.
    assert _importing(("bench",), ("tests",)) == []


def test_local_processes_imports_neither_the_tests_nor_the_benchmarks() -> None:
    assert _importing(("local_processes",), ("tests", "bench")) == []


def test_the_service_imports_no_test_benchmark_or_local_process() -> None:
    assert _importing(("app", "sandbox"), ("tests", "bench", "local_processes")) == []


def test_no_test_package_is_named_as_a_standard_library_module() -> None:
    # A subprocess started in tests/ (`python -m app` with cwd tests/) would import it instead.
    shadowing = [
        path.name
        for path in (ROOT / "tests").iterdir()
        if (path / "__init__.py").is_file() and path.name in sys.stdlib_module_names
    ]
    assert shadowing == []
