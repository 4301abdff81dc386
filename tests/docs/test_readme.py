"""The README stays a front door: short, with a contents list of its sections, and no command
in it that nothing runs. A fenced block is either `sh` (run: the quick tour by
test_readme_tour.py, the two commands by CI and the tour) or `text` (shown, not run)."""

from __future__ import annotations

import re

from tests.docs import markdown
from tests.docs.markdown import README, REPO_ROOT

TEXT = README.read_text()
MOST_LINES = 320  # about ten minutes of reading; depth goes to docs/


def test_the_readme_is_short() -> None:
    lines = len(TEXT.splitlines())
    assert lines <= MOST_LINES, f"README.md has {lines} lines: move depth to a docs/ page"


def test_the_contents_list_every_section_in_order() -> None:
    listed = re.findall(r"^- \[[^\]]+\]\(#([^)]+)\)$", markdown.section(TEXT, "Contents"), re.M)
    sections = [markdown.anchor(title) for title in markdown.sections(TEXT)]
    assert listed == [s for s in sections if s != "contents"]


def test_every_block_is_marked_run_or_shown() -> None:
    languages = {block.language for block in markdown.code_blocks(TEXT)}
    assert languages <= {"sh", "text"}, f"mark each block sh (run) or text (shown): {languages}"


def test_every_shell_block_is_one_that_runs() -> None:
    run_by_the_tour = markdown.code_blocks(markdown.section(TEXT, "Quick tour"))
    two_commands = markdown.code_blocks(markdown.section(TEXT, "Two commands"))
    elsewhere = [
        block
        for block in markdown.code_blocks(TEXT)
        if block.language == "sh" and block not in run_by_the_tour + two_commands
    ]
    assert not elsewhere, f"a shell block no test runs (run it, or mark it text): {elsewhere}"


def test_the_two_commands_are_the_ones_ci_and_the_tour_run() -> None:
    (block,) = markdown.code_blocks(markdown.section(TEXT, "Two commands"))
    commands = [line.split("#")[0].strip() for line in block.body.splitlines()]
    assert commands == ["scripts/run", "scripts/test"]
    # scripts/run is what test_readme_tour.py starts; scripts/test is what CI runs
    ci = [line for line in (REPO_ROOT / ".ci" / "run").read_text().splitlines() if line.strip()]
    assert ci[-1] == "scripts/test"
