"""The docs hold together: links and anchors resolve, named `make` targets and repository paths
exist, and the README stays an entry point."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 150
# Folders whose paths the docs name in code spans; anything else (build output, data) may not exist.
CHECKED_FOLDERS = ("app", "lambda_edge", "tests", "scripts", "bench", "docs", "serverless_plugins")
ROOT_FILE = re.compile(r"^[\w.-]+\.(?:py|yml|yaml|toml|md|txt|in)$")
PATH_IN_CODE = re.compile(
    r"(?<![\w/.-])((?:\.github|\.ci|" + "|".join(CHECKED_FOLDERS) + r")/[\w./-]*[\w/])"
)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
MAKE_GOAL = re.compile(r"\bmake\s+([a-z][\w-]*)")
MAKEFILE_TARGET = re.compile(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", re.MULTILINE)


def doc_files(root: Path) -> list[Path]:
    top = [root / name for name in ("README.md", "CONTRIBUTING.md", "SECURITY.md", "CHANGELOG.md")]
    return [path for path in top if path.exists()] + sorted((root / "docs").glob("*.md"))


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    anchors: set[str] = set()
    for line in FENCE.sub("", markdown).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1)).lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in anchors:
            n += 1
            candidate = f"{slug}-{n}"
        anchors.add(candidate)
    return anchors


def anchors_of(page: Path) -> set[str]:
    return heading_anchors(page.read_text(encoding="utf-8")) if page.suffix == ".md" else set()


def broken_links(doc: Path, root: Path) -> list[str]:
    text = FENCE.sub("", doc.read_text(encoding="utf-8"))
    problems = []
    for target in LINK.findall(CODE_SPAN.sub("", text)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: and the like
            continue
        path_part, _, anchor = target.partition("#")
        linked = (doc.parent / path_part).resolve() if path_part else doc
        if not linked.exists() or not linked.is_relative_to(root):
            problems.append(f"{doc.name}: link to missing {target}")
        elif anchor and anchor not in anchors_of(linked):
            problems.append(f"{doc.name}: no heading for #{anchor} in {linked.name}")
    return problems


def code_texts(markdown: str) -> list[str]:
    """The text of fenced blocks and code spans: where commands and paths are named."""
    blocks = [match.group(0) for match in FENCE.finditer(markdown)]
    return blocks + CODE_SPAN.findall(FENCE.sub("", markdown))


def makefile_targets(root: Path) -> set[str]:
    return set(MAKEFILE_TARGET.findall((root / "Makefile").read_text(encoding="utf-8")))


def missing_make_targets(doc: Path, root: Path) -> list[str]:
    targets = makefile_targets(root)
    named = {
        goal
        for code in code_texts(doc.read_text(encoding="utf-8"))
        for goal in MAKE_GOAL.findall(code)
    }
    return [f"{doc.name}: make {goal} is not a Makefile target" for goal in sorted(named - targets)]


def missing_paths(doc: Path, root: Path) -> list[str]:
    named: set[str] = set()
    for code in code_texts(doc.read_text(encoding="utf-8")):
        named.update(match.split("::")[0] for match in PATH_IN_CODE.findall(code))
        if ROOT_FILE.match(code.strip()):
            named.add(code.strip())
    return [
        f"{doc.name}: {path} does not exist" for path in sorted(named) if not (root / path).exists()
    ]


def readme_too_long(root: Path) -> list[str]:
    lines = (root / "README.md").read_text(encoding="utf-8").count("\n")
    return (
        [f"README.md has {lines} lines (at most {README_MAX_LINES})"]
        if lines > README_MAX_LINES
        else []
    )


def docs_problems(root: Path) -> list[str]:
    problems = readme_too_long(root)
    for doc in doc_files(root):
        problems += (
            broken_links(doc, root) + missing_make_targets(doc, root) + missing_paths(doc, root)
        )
    return problems


def test_the_docs_hold_together() -> None:
    assert docs_problems(ROOT) == []


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A tiny repository the checks must pass on, for the tests below to break."""
    (tmp_path / "Makefile").write_text("run: venv\n\t@true\ntest:\n\t@true\nX := 1\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "users.py").write_text("")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "api.md").write_text("# API\n\n## The page\n\n## The page\n")
    (tmp_path / "README.md").write_text(
        "# Title\n\nSee [the page](docs/api.md#the-page-1), [the web](https://example.com).\n"
        "```sh\nmake run PORT=5001\n```\nEdit `app/users.py`, then `make test`.\n"
    )
    assert docs_problems(tmp_path) == []
    return tmp_path


def test_a_link_to_a_missing_page_fails(repo: Path) -> None:
    (repo / "docs" / "api.md").write_text("## The page\n## The page\n[deploy](deployment.md)\n")
    assert docs_problems(repo) == ["api.md: link to missing deployment.md"]


def test_a_link_to_a_missing_anchor_fails(repo: Path) -> None:
    (repo / "docs" / "api.md").write_text("# API\n\n## The page\n")
    assert docs_problems(repo) == ["README.md: no heading for #the-page-1 in api.md"]


def test_a_missing_make_target_fails(repo: Path) -> None:
    (repo / "Makefile").write_text("run:\n\t@true\n")
    assert docs_problems(repo) == ["README.md: make test is not a Makefile target"]


def test_a_missing_repository_path_fails(repo: Path) -> None:
    (repo / "app" / "users.py").unlink()
    assert docs_problems(repo) == ["README.md: app/users.py does not exist"]


def test_a_readme_over_the_limit_fails(repo: Path) -> None:
    readme = repo / "README.md"
    readme.write_text("line\n" * README_MAX_LINES)
    assert docs_problems(repo) == []
    readme.write_text("line\n" * (README_MAX_LINES + 1))
    assert docs_problems(repo) == ["README.md has 151 lines (at most 150)"]
