"""Every relative link in README.md and docs/*.md leads somewhere: the file exists, and an
`#anchor` names a heading of the page it points at. Pages move and headings change; a link
that breaks must break this test, not a reader's trust."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.docs import markdown
from tests.docs.markdown import README, REPO_ROOT

PAGES = [README, *sorted((REPO_ROOT / "docs").glob("*.md"))]


def _relative_links(page: Path) -> list[str]:
    return [t for t in markdown.links(page.read_text()) if not urlsplit(t).scheme]


def _broken(page: Path, target: str, root: Path = REPO_ROOT) -> str | None:
    """Why the link `target` on `page` leads nowhere, or None when it leads somewhere."""
    path, _, fragment = target.partition("#")
    destination = (page.parent / unquote(path)).resolve() if path else page
    if not destination.is_relative_to(root.resolve()):
        return "outside the repository"
    if not destination.exists():
        return "no such file"
    is_page = destination.suffix == ".md"
    if fragment and is_page and fragment not in markdown.anchors(destination.read_text()):
        return f"no heading with the anchor #{fragment} in {destination.name}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = {t: why for t in _relative_links(page) if (why := _broken(page, t))}
    assert not broken, f"{page.relative_to(REPO_ROOT)}: broken links {broken}"


def test_the_readme_links_every_docs_page() -> None:
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in _relative_links(README)}
    unlinked = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not unlinked, f"link these from the README's 'Where to go next': {unlinked}"


def test_a_broken_link_and_a_missing_anchor_are_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## A section (`x`)\n")
    assert _broken(page, "#a-section-x", tmp_path) is None
    assert _broken(page, "page.md#title", tmp_path) is None
    assert _broken(page, "#nowhere", tmp_path) == "no heading with the anchor #nowhere in page.md"
    assert _broken(page, "missing.md", tmp_path) == "no such file"
    assert _broken(page, "../elsewhere.md", tmp_path) == "outside the repository"
