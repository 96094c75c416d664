"""The hash-locked requirements (docs/deployment.md: Dependencies).

Every requirements*.txt is compiled by `make lock` (scripts/lock, uv) from its requirements*.in:
every package, transitive ones included, pinned with ``==`` and the sha256 of its files, so that
``pip install --require-hashes`` installs exactly what was locked. These tests read the files as
pip does (continuation lines joined, comments dropped) and fail on any line that is not a hashed
pin, on a lock that disagrees with its input file, and on an install that would not check hashes.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCKS = sorted(ROOT.glob("requirements*.txt"))
INPUTS = sorted(ROOT.glob("requirements*.in"))
HASHED_PIN = re.compile(
    r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[A-Za-z0-9._,-]+\])?==(?P<version>[A-Za-z0-9.+!-]+)"
    r"(?:\s*;\s*[^-]+?)?(?P<hashes>(?:\s+--hash=sha256:[0-9a-f]{64})+)"
)
INPUT_PIN = re.compile(
    r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[A-Za-z0-9._,-]+\])?==(?P<version>\S+)"
)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def logical_lines(text: str) -> list[str]:
    """The lines pip reads: continuations joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n", " ", text)
    lines = (re.sub(r"(^|\s)#.*$", "", line).strip() for line in joined.splitlines())
    return [line for line in lines if line]


def unhashed_lines(text: str) -> list[str]:
    """Every line that is not ``name==version --hash=sha256:...`` (a lock allows nothing else)."""
    return [line for line in logical_lines(text) if not HASHED_PIN.fullmatch(line)]


def locked_versions(text: str) -> dict[str, str]:
    pins = (HASHED_PIN.fullmatch(line) for line in logical_lines(text))
    return {normalise(pin["name"]): pin["version"] for pin in pins if pin}


def input_pins(path: Path) -> dict[str, str]:
    """The ``name==version`` lines of an .in file (its -r/-c lines name other files)."""
    pins = {}
    for line in logical_lines(path.read_text()):
        if line.startswith(("-r ", "-c ")):
            continue
        pin = INPUT_PIN.fullmatch(line)
        assert pin, f"{path.name}: {line!r} is not name==version"
        pins[normalise(pin["name"])] = pin["version"]
    return pins


@pytest.mark.parametrize(
    "line",
    [
        "flask==3.1.3",  # pinned, no hash
        "flask>=3.1 --hash=sha256:" + "a" * 64,  # hashed, not pinned
        "flask --hash=sha256:" + "a" * 64,
        "flask==3.1.3 --hash=md5:" + "a" * 32,
        "-e git+https://example.invalid/flask.git#egg=flask",
        "--index-url https://example.invalid/simple",
        "-r requirements.in",
    ],
)
def test_the_check_refuses_what_is_not_a_hashed_pin(line: str) -> None:
    assert unhashed_lines(line + "\n") == [line]


def test_the_check_accepts_a_lock_as_make_lock_writes_it() -> None:
    text = (
        "# header\nflask==3.1.3 \\\n    --hash=sha256:" + "a" * 64 + " \\\n"
        "    --hash=sha256:" + "b" * 64 + "\n    # via -r requirements.in\n"
    )
    assert unhashed_lines(text) == []
    assert locked_versions(text) == {"flask": "3.1.3"}


def test_every_lock_has_its_input_and_every_input_its_lock() -> None:
    assert {p.stem for p in LOCKS} == {p.stem for p in INPUTS}
    assert "requirements" in {p.stem for p in LOCKS}


@pytest.mark.parametrize("lock", LOCKS, ids=lambda p: p.name)
def test_every_line_is_pinned_with_hashes(lock: Path) -> None:
    assert unhashed_lines(lock.read_text()) == []
    assert locked_versions(lock.read_text())


@pytest.mark.parametrize("source", INPUTS, ids=lambda p: p.name)
def test_the_lock_holds_every_pin_of_its_input(source: Path) -> None:
    """A pin added to or changed in an .in file without `make lock` fails here."""
    locked = locked_versions(source.with_suffix(".txt").read_text())
    wanted = input_pins(source)
    assert {name: locked.get(name) for name in wanted} == wanted


def test_the_layered_sets_agree_on_every_shared_package() -> None:
    """run = runtime + local emulator; dev = run + toolchain: same versions where they overlap."""
    runtime, run, dev = (
        locked_versions((ROOT / name).read_text())
        for name in ("requirements.txt", "requirements-run.txt", "requirements-dev.txt")
    )
    assert {name: run.get(name) for name in runtime} == runtime
    assert {name: dev.get(name) for name in run} == run


def test_boto3_is_not_shipped() -> None:
    """The Lambda runtime provides boto3; requirements.txt is what the zip carries."""
    assert not {"boto3", "botocore", "s3transfer"} & set(
        locked_versions((ROOT / "requirements.txt").read_text())
    )


def test_every_install_requires_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = re.findall(r"^\t.*\bpip install\b.*$|^PIP_INSTALL\s*:?=.*$", makefile, re.M)
    assert installs, "no pip install found in the Makefile"
    for line in installs:
        assert "--require-hashes" in line or "$(PIP_INSTALL)" in line, line
    uses = re.findall(r"^\t.*-r (requirements[\w-]*\.txt)", makefile, re.M)
    assert {ROOT / name for name in uses} >= set(LOCKS) - {ROOT / "requirements.txt"}
    for line in re.findall(r"^\t.*-r requirements[\w-]*\.txt.*$", makefile, re.M):
        assert "$(PIP_INSTALL)" in line, line


@pytest.mark.slow  # runs pip
@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_the_packaging_pip_requires_hashes(architecture: str) -> None:
    """serverless-python-requirements' pip arguments (serverless_plugins/platform.js)."""
    script = (
        "const p = require('./serverless_plugins/platform.js');"
        f"console.log(JSON.stringify(p.pipArguments('{architecture}', p.pythonVersion())))"
    )
    result = subprocess.run(
        ["node", "-e", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    arguments = json.loads(result.stdout)
    assert "--require-hashes" in arguments and "--only-binary=:all:" in arguments
