"""The deployment package, built the way `make package` builds them.

`scripts/sls package --package DIR` (osls + serverless-python-requirements + the bytecode plugin)
runs once per param combination per session (tests/packaging.py), into temporary directories,
so the developer's .serverless/ is left alone. The CloudFormation template is tested in
test_template.py. Also: `invoke local` on every tests/events file, and the serverless-offline
server that `make run` starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import marshal
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest

from scripts.lambda_python import CACHE_TAG, VERSION
from tests.events import build_event
from tests.http_types import HttpRequest
from tests.net import free_port, like_a_terminal
from tests.offline_server import (
    OfflineError,
    session_pids,
    start_offline,
    wait_until_listening,
)
from tests.packaging import ALB_LISTENER_ARN, ROOT, SLS, Build, osls_lock, packaged, run_sls

pytestmark = pytest.mark.slow

VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
# The goal bench/bench.py checks (SIZE_LIMIT, 1.5 MiB); 1,500,000 B left no room for the page.
MAX_ZIP_BYTES = 1_572_864
UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, check_source off.
# Distributions the Lambda Python runtime provides (/var/runtime); never in the zip.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3"}
# The managed Python runtime also provides the SnapStart hooks' registry (app/snapstart.py).
RUNTIME_PROVIDED |= {"snapshot_restore_py"}
EVENTS_DIR = ROOT / "tests" / "events"
EVENT_FILES = sorted(EVENTS_DIR.glob("*.json"))
SEED_FORM = {"username": "sam", "firstname": "john", "lastname": "king"}
# cffi's half for compiling bindings; argon2's prebuilt ones need only _cffi_backend.
BUILD_TIME_ONLY = ("cffi/", "pycparser/")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def pinned_requirements() -> dict[str, str]:
    """name -> version of every pin in the hash-locked requirements.txt (its --hash lines
    follow each pin)."""
    text = (ROOT / "requirements.txt").read_text()
    return {
        normalise(name): version
        for name, version in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", text, re.M)
    }


@pytest.fixture(scope="module")
def package() -> Build:
    return packaged()


@pytest.fixture(scope="module")
def alb_package() -> Build:
    return packaged(f"albListenerArn={ALB_LISTENER_ARN}")


@pytest.fixture(scope="module")
def entries(package: Build) -> dict[str, bytes]:
    with zipfile.ZipFile(package.zip_path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def own_sources() -> set[str]:
    sources = {"handler.py"}
    for package in ("app", "lambda_edge"):
        for path in (ROOT / package).rglob("*.py"):
            sources.add(path.relative_to(ROOT).as_posix())
    return sources


def own_data_files() -> set[str]:
    """Files app/ ships besides code (app/store/amazon_roots.pem)."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "app").rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    }


def runtime_magic_number() -> bytes:
    """The bytecode magic of the runtime's Python (lambda-python-version.txt): the tests run in
    the venv, which the Makefile builds from that version; anything else is a broken setup."""
    assert sys.implementation.cache_tag == CACHE_TAG, (sys.implementation.cache_tag, CACHE_TAG)
    return importlib.util.MAGIC_NUMBER


def pycache_path(source: str) -> str:
    directory, _, filename = source.rpartition("/")
    cached = f"__pycache__/{filename.removesuffix('.py')}.{CACHE_TAG}.pyc"
    return f"{directory}/{cached}" if directory else cached


def dependency_records(entries: dict[str, bytes]) -> dict[str, list[str]]:
    """Distribution (normalised name) -> the files its RECORD lists."""
    records = {}
    for name, data in entries.items():
        match = re.fullmatch(r"([^/]+)-([^/-]+)\.dist-info/RECORD", name)
        if match:
            rows = data.decode().splitlines()
            records[normalise(match[1])] = [row.split(",", 1)[0] for row in rows if row]
    return records


def assert_unchecked_hash_pyc(pyc: bytes, name: str, source: bytes | None = None) -> None:
    assert pyc[:4] == runtime_magic_number(), f"{name}: not {CACHE_TAG} bytecode"
    assert int.from_bytes(pyc[4:8], "little") == UNCHECKED_HASH, f"{name}: not unchecked-hash"
    if source is not None:
        assert pyc[8:16] == importlib.util.source_hash(source), f"{name}: hash is not its source's"
    if sys.version_info[:2] == (3, 12):
        code = marshal.loads(pyc[16:])
        assert code.co_filename.startswith("/var/task/"), f"{name}: {code.co_filename}"
        # Compiled with -X no_debug_ranges: lines only, no column positions.
        assert all(column is None for _, _, column, _ in code.co_positions()), name


# --- contents -------------------------------------------------------------------------------


def test_zip_holds_our_code_and_nothing_else_of_the_repo(entries: dict[str, bytes]) -> None:
    shipped_sources = {
        name
        for name in entries
        if name == "handler.py" or name.startswith(("app/", "lambda_edge/"))
    } - {pycache_path(source) for source in own_sources()}
    assert shipped_sources == own_sources() | own_data_files()
    repo_only = ("tests/", "scripts/", "serverless_plugins/", ".venv/", "node_modules/", ".cache/")
    repo_only += (".data/", "instance/", ".serverless/", ".git/", "bench/")
    assert not [name for name in entries if name.startswith(repo_only)]
    assert not [name for name in entries if name.endswith((".sqlite3", ".db", ".pyo"))]
    for name in ("serverless.yml", "package.json", "Makefile", "requirements.txt", ".npmrc"):
        assert name not in entries


# GET / (app/page.py) reads it at run time. own_data_files() finds whatever app/ holds; this
# names it, so a page moved out of app/ (outside the zip's patterns) fails here.
PAGE_FILE = "app/page.html"


def test_zip_ships_the_page_byte_for_byte(entries: dict[str, bytes]) -> None:
    assert entries.get(PAGE_FILE) == (ROOT / PAGE_FILE).read_bytes()


def test_zip_holds_exactly_the_pinned_runtime_dependencies(entries: dict[str, bytes]) -> None:
    shipped = {}
    for name in entries:
        match = re.fullmatch(r"([^/]+)-([^/-]+)\.dist-info/METADATA", name)
        if match:
            shipped[normalise(match[1])] = match[2]
    assert shipped == pinned_requirements()
    assert not RUNTIME_PROVIDED & {name.split("/", 1)[0] for name in entries}


def test_every_dependency_file_comes_from_its_distribution(entries: dict[str, bytes]) -> None:
    records = dependency_records(entries)
    allowed = set()
    for files in records.values():
        for path in files:
            allowed.add(path)
            if path.endswith(".py"):
                allowed.update({path + "c", pycache_path(path)})
    own = own_sources() | own_data_files() | {pycache_path(source) for source in own_sources()}
    strays = sorted(name for name in entries if name not in allowed and name not in own)
    assert strays == []


def test_every_module_ships_unchecked_hash_bytecode_of_the_runtime_python(
    package: Build, entries: dict[str, bytes]
) -> None:
    for source in own_sources():
        cached = pycache_path(source)
        assert cached in entries, f"no {cached}"
        assert_unchecked_hash_pyc(entries[cached], cached, entries[source])
    # Dependencies: sourceless <name>.pyc, or source + __pycache__ (custom.bytecode.depsLayout).
    # The hash must be that of the source pip installed (kept in the build's requirements/).
    installed = package.directory / "requirements"
    checked = 0
    for files in dependency_records(entries).values():
        for path in (p for p in files if p.endswith(".py")):
            if path.startswith(BUILD_TIME_ONLY):
                assert path not in entries and path + "c" not in entries, path
                continue
            source = (installed / path).read_bytes()
            pyc_name = pycache_path(path) if path in entries else path + "c"
            assert pyc_name in entries, f"no bytecode for {path}"
            assert_unchecked_hash_pyc(entries[pyc_name], pyc_name, source)
            checked += 1
    assert checked > 100
    stray_pycs = [
        name
        for name in entries
        if name.endswith(".pyc") and "__pycache__/" in name and f".{CACHE_TAG}." not in name
    ]
    assert stray_pycs == []


def test_zip_size_and_entry_order(package: Build) -> None:
    assert package.zip_path.stat().st_size <= MAX_ZIP_BYTES
    with zipfile.ZipFile(package.zip_path) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in infos)


def test_zip_bytes_depend_only_on_the_code(package: Build, alb_package: Build) -> None:
    """Two builds (the ALB one only changes the template) give byte-identical zips."""
    digests = {hashlib.sha256(b.zip_path.read_bytes()).hexdigest() for b in (package, alb_package)}
    assert len(digests) == 1


RUNTIME_PROBE = """
import json, os, sys
root, site_packages, event_file = sys.argv[1:4]
sys.path.insert(0, root)
sys.path.append(site_packages)  # stands in for /var/runtime (boto3 and friends)
import handler
response = handler.handler(json.load(open(event_file)), None)
modules = {}
for name, module in list(sys.modules.items()):
    origin = getattr(getattr(module, "__spec__", None), "origin", None)
    if origin:
        modules[name] = origin
print(json.dumps({"response": response, "modules": modules}))
"""


def extracted(package: Build, tmp_path: Path) -> Path:
    """The zip unpacked as Lambda unpacks it into its task directory."""
    root = tmp_path / "task"
    with zipfile.ZipFile(package.zip_path) as archive:
        archive.extractall(root)
    return root


def test_runtime_loads_only_shipped_bytecode_whatever_the_timestamps(
    package: Build, tmp_path: Path
) -> None:
    """Extract like Lambda, make every source newer than its bytecode, import and serve."""
    root = extracted(package, tmp_path)
    future = time.time() + 365 * 24 * 3600
    for path in root.rglob("*.py"):
        os.utime(path, (future, future))
    before = {p for p in root.rglob("*") if p.is_file()}
    site_packages = next((ROOT / ".venv" / "lib").glob(f"python{VERSION}/site-packages"))
    env = {**os.environ, "USERS_DB": str(tmp_path / "users.sqlite3")}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [
            *(str(VENV_PYTHON), "-S", "-v", "-c", RUNTIME_PROBE),
            *(str(root), str(site_packages), str(EVENTS_DIR / "rest_v1.json")),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["response"]["statusCode"] == 201

    from_zip = {n: o for n, o in probe["modules"].items() if o.startswith(str(root))}
    assert {"handler", "app", "flask", "werkzeug", "serverless_wsgi"} <= from_zip.keys()
    # Dependencies come from the zip; only what the runtime provides may come from elsewhere.
    outside = {
        name.split(".")[0]
        for name, origin in probe["modules"].items()
        if origin.startswith(str(site_packages))
    }
    assert outside <= RUNTIME_PROVIDED
    # -v logs "code object from '<file>.pyc'" when bytecode is used; a compile from source logs
    # "code object from <file>.py" (no quotes), a rejected .pyc "bytecode is stale".
    loaded_pycs = set(re.findall(r"^# code object from '([^']+\.pyc)'$", result.stderr, re.M))
    compiled = re.findall(r"^# code object from (\S+\.py)$", result.stderr, re.M)
    assert [line for line in compiled if line.startswith(str(root))] == []
    assert "bytecode is stale" not in result.stderr
    for name, origin in from_zip.items():
        if origin.endswith(".py"):
            relative = Path(origin).relative_to(root).as_posix()
            assert str(root / pycache_path(relative)) in loaded_pycs, name
        else:
            assert origin.endswith((".pyc", ".so")), origin
            assert not origin.endswith(".pyc") or origin in loaded_pycs, name
    after = {p for p in root.rglob("*") if p.is_file()}
    assert after - before <= {root / "instance" / "users.sqlite3"}


PASSWORD_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from app.passwords import hash_password, verify_password
stored = hash_password("correct-horse-battery")
checks = [verify_password(stored, "correct-horse-battery"), verify_password(stored, "wrong-one")]
origins = {name: getattr(sys.modules.get(name), "__file__", None)
           for name in ("argon2", "_argon2_cffi_bindings", "_cffi_backend", "cffi", "pycparser")}
print(json.dumps({"hash": stored, "checks": checks, "origins": origins}))
"""


def test_argon2_runs_from_the_zip_without_cffis_build_time_half(
    package: Build, tmp_path: Path
) -> None:
    root = extracted(package, tmp_path)
    assert not (root / "cffi").exists() and not (root / "pycparser").exists()
    result = subprocess.run(
        [str(VENV_PYTHON), "-I", "-S", "-c", PASSWORD_PROBE, str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    probe = json.loads(result.stdout)
    assert probe["hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert probe["checks"] == [True, False]
    origins = probe["origins"]
    for name in ("argon2", "_argon2_cffi_bindings", "_cffi_backend"):
        assert origins[name] and origins[name].startswith(str(root)), (name, origins)
    assert origins["cffi"] is None and origins["pycparser"] is None


PAGE_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import handler
print(json.dumps(handler.handler(json.loads(sys.argv[2]), None)))
"""


def test_page_is_served_from_the_unpacked_zip(package: Build, tmp_path: Path) -> None:
    root = extracted(package, tmp_path)
    event = build_event("http_api_v2", HttpRequest("GET", "/"), base64_body=None)
    env = {**os.environ, "USERS_DB": str(tmp_path / "users.sqlite3")}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [str(VENV_PYTHON), "-S", "-c", PAGE_PROBE, str(root), json.dumps(event)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    response = json.loads(result.stdout.strip().splitlines()[-1])
    assert response["statusCode"] == 200, response
    assert response["isBase64Encoded"] is False
    assert response["body"].encode() == (ROOT / PAGE_FILE).read_bytes()
    assert "script-src 'sha256-" in response["headers"]["Content-Security-Policy"]


# --- osls invoke local ----------------------------------------------------------------------

DIRECT_CALL = """
import json, sys
import handler
print(json.dumps(handler.handler(json.load(open(sys.argv[1])), None)))
"""


def last_json_document(output: str) -> dict[str, Any]:
    """`invoke local` prints the handler's logs, then the response, pretty-printed."""
    start = output.rfind("\n{\n")
    return json.loads(output[start + 1 if start >= 0 else output.index("{\n") :])


@pytest.mark.parametrize("event_file", EVENT_FILES, ids=lambda path: path.stem)
def test_invoke_local_answers_like_the_handler(event_file: Path, tmp_path: Path) -> None:
    env = {**os.environ, "USERS_DB": str(tmp_path / "invoke.sqlite3")}
    result = run_sls("invoke", "local", "-f", "api", "-p", str(event_file), env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    emulated = last_json_document(result.stdout)

    env["USERS_DB"] = str(tmp_path / "direct.sqlite3")
    direct = subprocess.run(
        [str(VENV_PYTHON), "-c", DIRECT_CALL, str(event_file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert direct.returncode == 0, direct.stderr
    expected = json.loads(direct.stdout.strip().splitlines()[-1])
    assert emulated == expected
    assert emulated["statusCode"] < 500


# --- serverless-offline (what `make run` serves) --------------------------------------------


def post_form(url: str, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode())
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.mark.parametrize("events", ["httpApi", "http"])
def test_offline_serves_the_seed_requests_and_stops_cleanly(events: str, tmp_path: Path) -> None:
    with start_offline(
        env={"USERS_DB": str(tmp_path / "users.sqlite3")}, events=events
    ) as base_url:
        status, _, body = post_form(base_url + "/userDetails", SEED_FORM)
        assert (status, body) == (201, b"Success")
        status, headers, body = post_form(
            base_url + "/userSignUp", {"username": "sam", "firstname": "john"}
        )
        assert (status, body) == (200, b"Success")
        assert {k.lower(): v for k, v in headers.items()}["access-control-allow-origin"] == "*"
        status, _, _ = post_form(base_url + "/userDetails", {"username": "sam", "firstname": "j"})
        assert status == 400


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_offline_leaves_no_process_behind(how: str, tmp_path: Path) -> None:
    """Ctrl-C on `make run` sends SIGINT to the foreground process group; `kill PID`, or make
    itself when it gets SIGTERM, signals only the command. Either way nothing may be left."""
    log = (tmp_path / "offline.log").open("wb")
    env = {**os.environ, "USERS_DB": str(tmp_path / "users.sqlite3")}
    port = free_port()
    command = [str(SLS), "offline", "start", "--httpPort", str(port)]
    command += ["--lambdaPort", str(free_port())]
    with osls_lock():  # until it listens (tests/packaging.py)
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=like_a_terminal,
        )
        wait_until_listening(process, port, 60)
    try:
        status, _, _ = post_form(f"http://127.0.0.1:{port}/userDetails", SEED_FORM)
        assert status == 201
        assert len(session_pids(process.pid)) >= 3  # the wrapper, osls, the python3 worker
        if how == "ctrl-c":
            os.killpg(process.pid, signal.SIGINT)
        else:
            os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
        deadline = time.monotonic() + 3
        while session_pids(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session_pids(process.pid) == []
    finally:
        with contextlib.suppress(ProcessLookupError, OfflineError):
            for pid in session_pids(process.pid):
                os.kill(pid, signal.SIGKILL)
        log.close()
