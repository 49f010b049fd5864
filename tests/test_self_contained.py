"""The repository explains itself: no file points at documents that live outside it,
and every golden check, test and section the code cites is in docs/physics.md.

- No tracked file names the planning documents that lived beside the repository
  (the physics, design and instruments notes) or a path into the shared folder beside it: a reader of
  the repository cannot open them. Their content is in docs/physics.md,
  docs/architecture.md and docs/instruments.md.
- Every "golden check N" (or "golden checks 8-11", "1, 2, 4 and 6") mentioned in a
  tracked file, and every `test_checkN...` test, has its own heading
  "Golden check N" in docs/physics.md; the checks are numbered 1, 2, ... without gaps.
- Every `tests/...py::test_name` that docs/physics.md cites exists.
- Every pointer `docs/physics.md, "Some section"` names a heading or a named
  paragraph (`**Some section.**`) of docs/physics.md.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from .conftest import REPO

PHYSICS_DOC = "docs/physics.md"
THIS_FILE = "tests/test_self_contained.py"

# Written so that this file itself contains none of the names it looks for.
EXTERNAL_DOCUMENTS = re.compile(r"\b(?:PHYSICS|DESIGN|INSTRUMENTS)\.md\b")
EXTERNAL_PATHS = re.compile(r"\.\./shared\b|/work/shared\b")

NUMBER_OR_RANGE = r"\d+(?:\s*[-\u2013]\s*\d+)?"
GOLDEN_MENTION = re.compile(
    rf"golden\s+checks?\s+({NUMBER_OR_RANGE}(?:\s*(?:,|\band\b|\bor\b)\s*{NUMBER_OR_RANGE})*)", re.IGNORECASE
)
CHECK_TEST_NAME = re.compile(r"\bdef\s+test_check_?(\d+)")
GOLDEN_HEADING = re.compile(r"^#{2,6}\s+Golden check (\d+)\b", re.MULTILINE)
CITED_TEST = re.compile(r"(tests/[\w/]+\.py)::(test_\w+)")
SECTION_POINTER = re.compile(r"docs/physics\.md,\s+[\"']([^\"']{1,60})[\"']")  # may wrap a line
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)
NAMED_PARAGRAPH = re.compile(r"\*\*([^*\n]+?)\.?\*\*")


def _tracked_texts() -> dict[str, str]:
    """Path -> text of every tracked text file present in the working tree."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout: the tracked files cannot be listed")
    texts = {}
    for name in listing.decode().split("\0"):
        path = REPO / name
        if not name or name == THIS_FILE or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data:  # binary (figures, HDF5)
            continue
        texts[name] = data.decode("utf-8", errors="replace")
    return texts


@pytest.fixture(scope="module")
def tracked() -> dict[str, str]:
    return _tracked_texts()


@pytest.fixture(scope="module")
def physics_doc() -> str:
    path = REPO / PHYSICS_DOC
    return path.read_text() if path.is_file() else ""  # missing: the tests below fail, naming it


def _numbers(listing: str) -> set[int]:
    found = set()
    for part in re.split(r"\s*(?:,|\band\b|\bor\b)\s*", listing):
        bounds = [int(n) for n in re.findall(r"\d+", part)]
        if len(bounds) == 1:
            found.add(bounds[0])
        elif len(bounds) == 2:
            found.update(range(bounds[0], bounds[1] + 1))
    return found


def _line(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def test_no_file_points_outside_the_repository(tracked):
    offenders = [
        f"{name}:{_line(text, match.start())}: {match.group(0)}"
        for name, text in tracked.items()
        for pattern in (EXTERNAL_DOCUMENTS, EXTERNAL_PATHS)
        for match in pattern.finditer(text)
    ]
    assert not offenders, "documents outside the repository are cited (point into docs/ instead):\n" + "\n".join(
        offenders
    )


def test_the_golden_checks_are_numbered_without_gaps(physics_doc):
    defined = [int(n) for n in GOLDEN_HEADING.findall(physics_doc)]
    assert defined, f"{PHYSICS_DOC} defines no 'Golden check N' heading"
    assert defined == list(range(1, len(defined) + 1)), defined


def test_every_golden_check_mentioned_is_defined(tracked, physics_doc):
    defined = {int(n) for n in GOLDEN_HEADING.findall(physics_doc)}
    missing = []
    for name, text in tracked.items():
        if name == PHYSICS_DOC:
            continue
        for match in GOLDEN_MENTION.finditer(text):
            for number in sorted(_numbers(match.group(1)) - defined):
                missing.append(f"{name}:{_line(text, match.start())}: golden check {number}")
        if name.startswith("tests/"):
            for match in CHECK_TEST_NAME.finditer(text):
                if int(match.group(1)) not in defined:
                    missing.append(f"{name}:{_line(text, match.start())}: test of check {match.group(1)}")
    assert not missing, f"golden checks mentioned but not defined in {PHYSICS_DOC}:\n" + "\n".join(missing)


def test_the_tests_the_physics_doc_cites_exist(physics_doc):
    cited = set(CITED_TEST.findall(physics_doc))
    assert cited, f"{PHYSICS_DOC} cites no test"
    missing = []
    for path, test in sorted(cited):
        source = REPO / path
        if not source.is_file() or not re.search(rf"^\s*def {test}\(", source.read_text(), re.MULTILINE):
            missing.append(f"{path}::{test}")
    assert not missing, f"{PHYSICS_DOC} cites tests that do not exist:\n" + "\n".join(missing)


def test_pointers_into_the_physics_doc_name_its_sections(tracked, physics_doc):
    anchors = [a.strip().lower() for a in HEADING.findall(physics_doc) + NAMED_PARAGRAPH.findall(physics_doc)]
    broken = []
    for name, text in {**tracked, PHYSICS_DOC: physics_doc}.items():
        for match in SECTION_POINTER.finditer(text):
            wanted = " ".join(match.group(1).split()).lower()
            if not any(anchor == wanted or anchor.startswith(wanted) for anchor in anchors):
                broken.append(f"{name}:{_line(text, match.start())}: {match.group(0)}")
    assert not broken, f"pointers to sections that {PHYSICS_DOC} does not have:\n" + "\n".join(broken)
