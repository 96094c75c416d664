"""The local loop (README: Two commands): what `make run`, `make reset` and the Makefile's
preflight do for a newcomer.

Most tests run make in a copy of the Makefile and scripts in a temporary directory, so that
nothing here can build, change or delete the checkout's .venv, node_modules or data; the
preflight stops make before any recipe runs, so those take milliseconds. Two start the real
emulator: `make run` itself (both ports, and the request ids in its log), and serverless-offline
meeting a port taken after make's check (the race).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scripts.lambda_python import VERSION
from tests import processes
from tests.channels import LambdaContext
from tests.contract import unique_user
from tests.events import build_event
from tests.http_types import HttpRequest
from tests.net import HOST, free_port, like_a_terminal
from tests.packaging import osls_lock

ROOT = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make") or "make"
LAMBDA_PORT_OFFSET = 1998  # the Makefile's default LAMBDA_PORT is PORT - 1998
# What make needs to read the Makefile and run the preflight; node and npm are added per test.
BASE_TOOLS = ("bash", "make", "sh", "env", "cat", "dirname", "expr")
REPO_FILES = (
    "Makefile",
    "lambda-python-version.txt",
    "requirements.txt",
    "requirements-run.txt",
    "requirements-dev.txt",
)
REPO_FILES += ("requirements-checkov.txt", "package.json", "package-lock.json", ".npmrc")
REPO_DIRS = ("scripts", "serverless_plugins")


def make(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    child_env.pop("PYTHON", None)
    child_env.update(env or {})
    return subprocess.run(
        [MAKE, "--no-print-directory", *args],
        cwd=cwd,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """make's $(error) line: the preflight's message, and nothing else on either stream."""
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    match = re.fullmatch(r"Makefile:\d+: \*\*\* (.*)\.  Stop\.", lines[0])
    assert match, lines[0]
    return match[1]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of what make reads, without the checkout's .venv, node_modules or data."""
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in REPO_FILES:
        shutil.copy2(ROOT / name, copy / name)
    for name in REPO_DIRS:
        shutil.copytree(ROOT / name, copy / name)
    return copy


def tool_dir(tmp_path: Path, *extra: str) -> str:
    """A PATH holding only BASE_TOOLS and ``extra``: what a machine without node would have."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in (*BASE_TOOLS, *extra):
        found = shutil.which(tool)
        assert found, tool
        link = bin_dir / tool
        if not link.exists():
            link.symlink_to(found)
    return str(bin_dir)


# -- node and npm -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("goal", "present", "missing"),
    [
        pytest.param("test", (), "node", id="test-without-node"),
        pytest.param("run", (), "node", id="run-without-node"),
        pytest.param("test", ("node",), "npm", id="test-without-npm"),
    ],
)
def test_missing_node_or_npm_is_one_line_before_anything_runs(
    repo: Path, tmp_path: Path, goal: str, present: tuple[str, ...], missing: str
) -> None:
    message = one_line(make(goal, cwd=repo, env={"PATH": tool_dir(tmp_path, *present)}))
    assert message.startswith(f"{missing} not found on PATH: install ")
    assert not (repo / ".venv").exists()  # nothing was built before the check
    assert not (repo / "node_modules").exists()


@pytest.mark.slow
def test_goals_without_node_do_not_ask_for_it(repo: Path, tmp_path: Path) -> None:
    result = make(
        "reset",
        cwd=repo,
        env={"PATH": tool_dir(tmp_path, "find", "sort", "head", "readlink", "rm")},
    )
    assert result.returncode == 0, result.stderr


# -- PYTHON and .venv ---------------------------------------------------------------------


def other_python() -> str | None:
    """An interpreter that is not the runtime's (Debian's python3 here), if this machine has one."""
    for candidate in ("/usr/bin/python3", "python3.11", "python3.12"):
        path = shutil.which(candidate)
        if path:
            version = subprocess.run(
                [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            if version and version != VERSION:
                return path
    return None


@pytest.mark.slow
def test_nonexistent_python_is_named_with_the_fix(repo: Path) -> None:
    message = one_line(make("venv", "PYTHON=/nonexistent/python", cwd=repo))
    assert message.startswith("PYTHON=/nonexistent/python is not an executable: ")
    assert f"PYTHON=/path/to/python{VERSION}" in message
    assert not (repo / ".venv").exists()


@pytest.mark.slow
def test_python_of_another_version_is_refused(repo: Path) -> None:
    python = other_python()
    if python is None:
        pytest.skip(f"no Python other than {VERSION} on this machine")
    message = one_line(make("venv", f"PYTHON={python}", cwd=repo))
    assert re.match(
        rf"PYTHON={re.escape(python)} is Python (?!{re.escape(VERSION)}\.)\d+\.\d+\.\d+, ", message
    )
    assert f"PYTHON=/path/to/python{VERSION}" in message
    assert not (repo / ".venv").exists()


@pytest.mark.slow
def test_no_runtime_python_found_says_how_to_give_one(repo: Path, tmp_path: Path) -> None:
    # Neither pyenv nor python3.X on PATH: the Makefile's search finds nothing.
    message = one_line(make("venv", cwd=repo, env={"PATH": tool_dir(tmp_path)}))
    assert message.startswith(f"Python {VERSION} not found: pass PYTHON=/path/to/python{VERSION}")
    assert not (repo / ".venv").exists()


@pytest.mark.slow
def test_runtime_python_passes_the_check(repo: Path) -> None:
    # Dry run: the recipe make would run is the venv built from exactly this interpreter.
    result = make("-n", "venv", f"PYTHON={sys.executable}", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert f'"{sys.executable}" -m venv .venv' in result.stdout


@pytest.mark.slow
def test_existing_venv_of_another_version_is_refused_and_kept(repo: Path) -> None:
    python = other_python()
    if python is None:
        pytest.skip(f"no Python other than {VERSION} on this machine")
    subprocess.run([python, "-m", "venv", "--without-pip", str(repo / ".venv")], check=True)
    before = sorted(p.name for p in (repo / ".venv").iterdir())
    for goal in ("venv", "test", "run"):
        message = one_line(make(goal, f"PYTHON={sys.executable}", cwd=repo))
        other = rf"(?!{re.escape(VERSION)}\.)\d+\.\d+\.\d+"
        wanted = re.escape(VERSION)
        assert re.match(rf"\.venv is Python {other}, but Lambda runs {wanted}: ", message)
        assert "rm -rf .venv" in message
    assert sorted(p.name for p in (repo / ".venv").iterdir()) == before


@pytest.mark.slow
def test_make_run_installs_the_runtime_set_and_make_test_still_the_toolchain(
    repo: Path,
) -> None:
    # A venv of the runtime's Python that nothing has been installed into yet; dry runs show
    # what make would do.
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "python").symlink_to(sys.executable)
    port = f"PORT={free_port_pair()[0]}"

    def installs(*goal: str) -> list[str]:
        result = make("-n", *goal, cwd=repo)
        assert result.returncode == 0, result.stderr
        return re.findall(
            r"^\.venv/bin/python -m pip install --quiet --require-hashes -r (\S+)",
            result.stdout,
            re.M,
        )

    assert installs("run", port) == ["requirements-run.txt"]
    (repo / ".venv" / ".installed-run").touch()  # what make run's install leaves
    assert installs("run", port) == []
    assert installs("test") == ["requirements-dev.txt"]  # make run did not count for make test
    for stamp in (".installed", ".installed-run"):  # what make test's install leaves
        (repo / ".venv" / stamp).touch()
    assert installs("test") == installs("run", port) == []


def installed_closure(requirements: Path) -> set[str]:
    """Every distribution installing ``requirements`` brings in, read from this venv's metadata."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    names: set[str] = set()
    for raw in requirements.read_text().replace("\\\n", " ").splitlines():
        # A hash-locked line: "name==version --hash=sha256:... --hash=...".
        line = raw.split("#", 1)[0].split(" --hash=", 1)[0].strip()
        if line.startswith("-r "):
            names |= installed_closure(requirements.parent / line[3:].strip())
        elif line:
            names.add(canonicalize_name(Requirement(line).name))
    todo = list(names)
    while todo:
        for spec in requires(todo.pop()) or []:
            requirement = Requirement(spec)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            name = canonicalize_name(requirement.name)
            if name not in names:
                names.add(name)
                todo.append(name)
    return names


# Everything make run executes in the venv: the handler and all of app/ and lambda_edge/
# (imported up front, so lazily imported modules count too), and the scripts STORE=dynamodb runs.
# Modules the run path imports only if present, each blocked here so that the run proves it:
# app/snapstart.py imports snapshot_restore_py (only the Lambda runtime has it) defensively, and
# botocore.httpsession uses certifi's CA bundle when installed, else its own.
OPTIONAL_IMPORTS = ("snapshot_restore_py", "certifi")
IMPORT_RUN_PATH = """
import importlib, json, pkgutil, sys
for name in sys.argv[1:]:
    sys.modules[name] = None  # as if not installed: importing it raises ImportError
sys.path.insert(0, "scripts")
import app, lambda_edge
names = ["handler", "serverless_config", "create_local_table"]
for package in (app, lambda_edge):
    names += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
for name in names:
    importlib.import_module(name)
print(json.dumps(sorted({name.split(".")[0] for name, module in sys.modules.items() if module})))
"""


@pytest.mark.slow
def test_make_runs_install_covers_every_import_of_the_run_path(tmp_path: Path) -> None:
    # make test installs the whole toolchain, so CI would stay green if the app or a script
    # make run uses imported something only requirements-dev.txt brings (PyYAML once did).
    from importlib.metadata import packages_distributions

    from packaging.utils import canonicalize_name

    env = processes.without_coverage({**os.environ, "USERS_DB": str(tmp_path / "users.sqlite3")})
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_RUN_PATH, *OPTIONAL_IMPORTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    provided = installed_closure(ROOT / "requirements-run.txt")
    distributions = packages_distributions()
    missing = {
        module: distributions[module]
        for module in modules
        if module in distributions
        and not any(canonicalize_name(d) in provided for d in distributions[module])
    }
    assert not set(OPTIONAL_IMPORTS) & set(modules)
    assert "yaml" in modules and "botocore" in modules  # the scripts' imports were seen
    assert missing == {}


# -- make reset ---------------------------------------------------------------------------


def local_data(repo: Path, *, leftover_companions: bool = True) -> list[Path]:
    instance = repo / "instance"
    instance.mkdir()
    db = instance / "users.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.close()
    if leftover_companions:
        # What a killed writer leaves behind (a clean close checkpoints and deletes them).
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").write_bytes(b"")
    dynamodb = repo / ".data" / "dynamodb-local"
    dynamodb.mkdir(parents=True)
    (dynamodb / "shared-local-instance.db").write_bytes(b"tables")
    return [db, Path(f"{db}-wal"), Path(f"{db}-shm"), repo / ".data"]


def kept_things(repo: Path) -> list[Path]:
    """What make reset must never touch: the venv, node_modules, caches, other instance files."""
    kept = [repo / ".venv" / "bin" / "python", repo / "node_modules" / ".installed"]
    kept += [repo / ".cache" / "checkov" / ".installed", repo / "instance" / "notes.txt"]
    for path in kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("keep")
    return kept


@pytest.mark.slow
def test_reset_deletes_local_data_and_nothing_else(repo: Path) -> None:
    data = local_data(repo)
    kept = kept_things(repo)
    result = make("reset", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert [path for path in data if path.exists()] == []
    assert all(path.read_text() == "keep" for path in kept)
    again = make("reset", cwd=repo)
    assert again.returncode == 0 and "no local data" in again.stdout


@pytest.mark.slow
def test_reset_refuses_while_a_process_has_the_data_open(repo: Path) -> None:
    data = local_data(repo, leftover_companions=False)
    # What a running make run's warm worker holds: an open SQLite connection (and, in WAL
    # mode, the -wal and -shm files with it).
    conn = sqlite3.connect(data[0], isolation_level=None)
    try:
        conn.execute("INSERT INTO users VALUES ('sam')")
        result = make("reset", cwd=repo)
        assert result.returncode != 0
        assert f"pid {os.getpid()} " in result.stderr
        assert "instance/users.sqlite3" in result.stderr
        assert "stop make run" in result.stderr
        assert all(path.exists() for path in data)
    finally:
        conn.close()
    assert make("reset", cwd=repo).returncode == 0
    assert not data[0].exists()


@pytest.mark.slow
def test_reset_refuses_through_a_symlinked_checkout_path(repo: Path, tmp_path: Path) -> None:
    # /proc shows the open file by its real path; the script must compare real paths.
    linked = tmp_path / "linked [checkout]"
    linked.symlink_to(repo)
    data = local_data(repo, leftover_companions=False)
    conn = sqlite3.connect(data[0], isolation_level=None)
    try:
        conn.execute("INSERT INTO users VALUES ('sam')")
        # A shell that cd'd there passes its logical path on in PWD.
        result = make("reset", cwd=linked, env={"PWD": str(linked)})
        assert result.returncode != 0, result.stdout
        assert f"pid {os.getpid()} " in result.stderr
        assert data[0].exists()
    finally:
        conn.close()


# -- ports --------------------------------------------------------------------------------


def free_port_pair() -> tuple[int, int]:
    """(PORT, PORT - 1998), both free on 127.0.0.1 right now."""
    for _ in range(100):
        port = free_port()
        partner = port - LAMBDA_PORT_OFFSET
        if partner > 1024 and port_is_free(partner):
            return port, partner
    raise RuntimeError("no free port pair found")


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


@contextmanager
def held(port: int) -> Iterator[None]:
    """Something else listening on ``port``, as AirPlay holds 5000 on macOS."""
    with socket.socket() as sock:
        sock.bind((HOST, port))
        sock.listen()
        yield


@pytest.mark.slow
@pytest.mark.parametrize("which", ["PORT", "LAMBDA_PORT"])
def test_make_run_on_a_taken_port_is_one_line(which: str) -> None:
    http_port, lambda_port = free_port_pair()
    taken = http_port if which == "PORT" else lambda_port
    with held(taken):
        # The checkout's own make: the preflight stops it before any recipe (no install, no
        # emulator), so it never touches .venv or the data.
        message = one_line(make("run", f"PORT={http_port}"))
    if which == "PORT":
        assert re.fullmatch(rf"port {taken} is in use; run make run PORT=(\d+)", message)
    else:
        assert re.fullmatch(
            rf"port {taken} \(the emulator's Lambda port\) is in use; run make run LAMBDA_PORT=\d+",
            message,
        )


@pytest.mark.slow
def test_make_run_port_must_be_a_number() -> None:
    message = one_line(make("run", "PORT=http"))
    assert message == "PORT=http is not a port number (1-65535); pass PORT=<a free port>"


@pytest.mark.slow
@pytest.mark.parametrize("which", ["http", "lambda"])
def test_port_taken_after_the_check_is_one_line_from_the_emulator(which: str) -> None:
    # The race: make's check passed, then something took the port before serverless-offline
    # listened. scripts/sls is what make run starts, after its check.
    http_port, lambda_port = free_port_pair()
    taken = http_port if which == "http" else lambda_port
    command = [str(ROOT / "scripts" / "sls"), "offline", "start"]
    command += ["--httpPort", str(http_port), "--lambdaPort", str(lambda_port)]
    with held(taken), osls_lock():
        result = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    variable = "PORT" if which == "http" else "LAMBDA_PORT"
    assert len(errors) == 1, result.stderr
    assert re.fullmatch(rf"error: port {taken} .*is in use; run make run {variable}=\d+", errors[0])
    assert "EADDRINUSE" not in result.stderr + result.stdout
    assert not re.search(r"^\s+at ", result.stderr, re.MULTILINE)  # no stack trace


# -- make run -----------------------------------------------------------------------------


def post_form(url: str, fields: str) -> int:
    request = urllib.request.Request(
        url, data=fields.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.status)


def log_records(log: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The app's JSON request records and the emulator's own "RequestId: <id>" ids."""
    records, emulator_ids = [], []
    for line in log.read_text(errors="replace").splitlines():
        start = line.find("{")
        if start >= 0:
            try:
                record = json.loads(line[start:])
            except ValueError:
                record = None
            if isinstance(record, dict) and record.get("message") == "request":
                records.append(record)
        emulator_ids += re.findall(r"\) RequestId: ([0-9a-f-]{36}) ", line)
    return records, emulator_ids


@pytest.mark.slow
def test_make_run_moves_both_ports_and_logs_the_emulators_request_ids(tmp_path: Path) -> None:
    stamps = (".venv/.installed-run", "node_modules/.installed")
    if make("-q", *stamps).returncode != 0:
        pytest.skip("make run would install first; run make run (or make test) once")
    http_port, lambda_port = free_port_pair()
    log = tmp_path / "make-run.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    env["USERS_DB"] = str(tmp_path / "users.sqlite3")  # never the checkout's instance/
    command = [MAKE, "--no-print-directory", "run", f"PORT={http_port}"]
    with contextlib.ExitStack() as stack:
        with osls_lock():  # until it listens (tests/packaging.py)
            stack.enter_context(
                processes.server(
                    command,
                    port=http_port,
                    cwd=ROOT,
                    env=env,
                    log=log,
                    startup_timeout=90,
                    stop_signal=signal.SIGINT,  # as Ctrl-C would
                    preexec_fn=like_a_terminal,
                )
            )
        assert not port_is_free(lambda_port)  # the Lambda port moved with PORT
        base = f"http://{HOST}:{http_port}"
        for _ in range(2):
            fields = f"username={unique_user()}&firstname=john&lastname=king"
            assert post_form(base + "/userDetails", fields) == 201
        deadline = time.monotonic() + 10
        while len((found := log_records(log))[0]) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    records, emulator_ids = found
    ids = [record.get("requestId") for record in records]
    assert len(ids) == 2 and len(set(ids)) == 2, log.read_text()[-3000:]
    assert "1234567890" not in ids
    assert set(ids) <= set(emulator_ids), (ids, emulator_ids)
    assert f"{HOST}:{lambda_port}" in log.read_text()


# -- request ids under the emulator (the real emulator: the make run test above) ------------


@dataclass
class OfflineContext(LambdaContext):
    """serverless-offline's context as its invoke.py builds it: aws_request_id is always
    "1234567890", the emulator's own id comes as awsRequestId."""

    aws_request_id: str = "1234567890"
    awsRequestId: str = field(default_factory=lambda: str(uuid.uuid4()))


def logged_request_id(context: Any, capsys: pytest.CaptureFixture[str]) -> str:
    import handler

    event = build_event("http_api_v2", HttpRequest("GET", "/no-such-page"), base64_body=False)
    assert handler.handler(event, context)["statusCode"] == 404
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["message"] == "request"
    return str(record["requestId"])


def test_under_serverless_offline_the_log_carries_the_emulators_request_id(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import handler

    monkeypatch.setattr(handler, "UNDER_SERVERLESS_OFFLINE", True)
    context = OfflineContext()
    assert logged_request_id(context, capsys) == context.awsRequestId


def test_in_lambda_the_runtimes_request_id_stands(capsys: pytest.CaptureFixture[str]) -> None:
    import handler

    assert not handler.UNDER_SERVERLESS_OFFLINE  # the suite runs outside the emulator
    context = OfflineContext(aws_request_id=str(uuid.uuid4()))
    assert logged_request_id(context, capsys) == context.aws_request_id


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"IS_OFFLINE": "true"}, True),  # serverless-offline's worker
        ({}, False),
        ({"IS_OFFLINE": "false"}, False),
        # A Lambda runtime (or the RIE) never, even if a deployer set IS_OFFLINE.
        ({"IS_OFFLINE": "true", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}, False),
    ],
)
def test_which_processes_count_as_serverless_offline(
    environ: dict[str, str], expected: bool
) -> None:
    from app.runtime import Runtime, current_runtime

    assert (current_runtime(environ) is Runtime.SERVERLESS_OFFLINE) is expected
