"""Every alert links a runbook page, and every page says what it means, how to look and what
to do, pointing at panels the dashboard has and log events the service writes."""

from __future__ import annotations

import json
import re

import yaml

from tests.support.paths import REPO_ROOT as ROOT
from tests.system.deploy.manifests import DEPLOY, Rendered

RUNBOOKS = ROOT / "docs" / "runbooks"
RULES = DEPLOY / "base" / "prometheusrule.yaml"
DASHBOARD = DEPLOY / "grafana" / "checkout-bff.json"
SECTIONS = ["## What it means", "## How to look", "## What to do"]
# components/runbook-links puts the overlay's repository URL in place of this.
PLACEHOLDER = "REPOSITORY"


def alert_links(groups: list[dict]) -> list[tuple[str, str]]:
    return [
        (rule["alert"], rule["annotations"]["runbook_url"])
        for group in groups
        for rule in group["rules"]
        if "alert" in rule
    ]


def alert_names() -> set[str]:
    return {alert for alert, _ in alert_links(yaml.safe_load(RULES.read_text())["spec"]["groups"])}


def pages() -> dict[str, str]:
    return {p.stem: p.read_text() for p in RUNBOOKS.glob("*.md") if p.name != "README.md"}


def section(text: str, heading: str) -> str:
    start = text.index(heading) + len(heading)
    following = text.find("\n## ", start)
    return text[start:] if following == -1 else text[start:following]


def bullet(text: str, label: str) -> str:
    """A bullet `- Label: ...` with its indented continuation lines."""
    match = re.search(rf"^- {label}:(.*?)(?=^- |^\S|^$|\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"no '- {label}:' line"
    return match.group(1)


def test_every_alert_links_its_own_page() -> None:
    for alert, url in alert_links(yaml.safe_load(RULES.read_text())["spec"]["groups"]):
        assert url == f"{PLACEHOLDER}/docs/runbooks/{alert}.md", alert
        assert (RUNBOOKS / f"{alert}.md").is_file(), f"{alert} has no page"


def test_rendered_links_point_at_the_repository_the_overlay_names(
    rendered: dict[str, Rendered],
) -> None:
    checked = 0
    for r in rendered.values():
        for rule in r.of_kind("PrometheusRule"):
            for alert, url in alert_links(rule["spec"]["groups"]):
                assert url.startswith("https://"), f"{r.overlay}: {alert}: {url}"
                assert url.endswith(f"/docs/runbooks/{alert}.md"), f"{r.overlay}: {url}"
                assert PLACEHOLDER not in url, f"{r.overlay}: {url}"
                checked += 1
    assert checked


def test_there_is_one_page_per_alert_and_the_index_lists_them() -> None:
    assert set(pages()) == alert_names()
    index = (RUNBOOKS / "README.md").read_text()
    for alert in alert_names():
        assert f"[{alert}]({alert}.md)" in index, f"the index does not list {alert}"


def test_every_page_says_what_it_means_how_to_look_and_what_to_do() -> None:
    for alert, text in pages().items():
        assert text.startswith(f"# {alert}\n"), alert
        positions = [text.find(heading) for heading in SECTIONS]
        assert -1 not in positions and positions == sorted(positions), f"{alert}: {SECTIONS}"
        for heading in SECTIONS:
            assert len(section(text, heading).strip()) > 100, f"{alert}: {heading} is empty"


def test_the_panels_a_page_names_are_on_the_dashboard() -> None:
    titles = {p["title"] for p in json.loads(DASHBOARD.read_text())["panels"]}
    for alert, text in pages().items():
        named = re.findall(r'"([^"]+)"', bullet(section(text, "## How to look"), "Panels"))
        assert named, f"{alert} names no panel"
        assert set(named) <= titles, f"{alert}: not on the dashboard: {set(named) - titles}"


def test_the_log_events_a_page_names_are_written_by_the_service() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "app").rglob("*.py"))
    for alert, text in pages().items():
        events = re.findall(
            r"`([a-z_]+(?:\.[a-z_]+)+)`", bullet(section(text, "## How to look"), "Log events")
        )
        assert events, f"{alert} names no log event"
        for event in events:
            assert f'"{event}"' in source, f"{alert}: the service writes no {event} event"


def test_links_between_pages_resolve() -> None:
    for page in RUNBOOKS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).resolve().is_file(), f"{page.name}: {target}"


def test_relative_paths_a_page_names_exist() -> None:
    # `docs/...`, `deploy/...` and `alembic/...` in backticks: files and folders of this repository.
    for page in RUNBOOKS.glob("*.md"):
        for path in re.findall(r"`((?:docs|deploy|alembic)/[^`\s]*)`", page.read_text()):
            assert (ROOT / path).exists(), f"{page.name}: {path}"
