"""Reading the project's Markdown the way GitHub renders it: sections, fenced code blocks, links
and heading anchors. Only what the documentation tests need, kept to the subset the pages use
(ATX headings, backtick fences, inline links)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"

FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^(#{1,6}) +(.+?) *#*$", re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
# [text](target) and ![alt](target); a target never holds spaces in these pages
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


@dataclass(frozen=True)
class CodeBlock:
    language: str
    body: str


def without_fences(text: str) -> str:
    """The page without its fenced blocks (a `# comment` in a shell block is not a heading)."""
    return FENCE.sub("", text)


def without_code(text: str) -> str:
    """The prose of a page: inline code taken out too (a path in backticks is not a link)."""
    return INLINE_CODE.sub("", without_fences(text))


def section(text: str, heading: str) -> str:
    """The body of the `## heading` section, up to the next heading of level two or one."""
    marker = f"\n## {heading}\n"
    assert marker in text, f"no section '## {heading}'"
    kept, fenced = [], False
    for line in text.split(marker, 1)[1].splitlines(keepends=True):
        fenced ^= line.startswith("```")
        if not fenced and re.match(r"#{1,2} ", line):
            break
        kept.append(line)
    return "".join(kept)


def sections(text: str) -> list[str]:
    """The titles of the page's `##` sections, in order."""
    return [title for hashes, title in HEADING.findall(without_fences(text)) if len(hashes) == 2]


def code_blocks(text: str) -> list[CodeBlock]:
    return [CodeBlock(language, body) for language, body in FENCE.findall(text)]


def links(text: str) -> list[str]:
    """Every link and image target of the page's prose."""
    return LINK.findall(without_code(text))


def anchor(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)  # a link in a heading: its text
    return re.sub(r"[^\w\- ]", "", plain.lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of every heading; a repeated one gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for _, title in HEADING.findall(without_fences(text)):
        slug = anchor(title)
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return found
