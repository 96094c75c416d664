"""`make bench`: cold start, warm cost and memory on both stores, against the 20-line peer.

Every comparison is measured side by side in one run, interleaved, and reported as
medians and ratios: the machine is shared and noisy, so absolute numbers drift between
runs while ratios hold.

What runs, all on 127.0.0.1:
- Amazon's DynamoDB Local (tests/dynamo_server.py) holding a table keyed as serverless.yml declares,
  and a TLS front on it with a CA made for this run (tests/tls_front.py): AWS's
  endpoints are HTTPS only, and the first TLS connection is part of a real cold start.
- A stand-in for the runtime's /var/runtime: boto3, botocore, s3transfer, jmespath,
  dateutil, six and urllib3 copied from the venv with compiled bytecode, and no certifi
  (the runtime has none, so botocore loads its own cacert.pem).
- The packaged zip, unpacked read-only as Lambda's task directory, and the peer: the
  article's 20-line app with serverless_wsgi.handle_request and a boto3 client made at
  import (bench/peer/peer_handler.py), over the same dependencies.

Trust on the HTTPS legs: each side loads what it would load in AWS plus the one test
root. The peer gets AWS_CA_BUNDLE = botocore's bundle + test CA; the project's zip gets
its Amazon-roots file + test CA (no AWS_CA_BUNDLE, as in AWS).

The report's table is also written to docs/benchmarks.md, with the machine, the date
and the commit (a generated file: never edited by hand).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import datetime
import json
import os
import platform
import py_compile
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

COLD_START_GOAL = 0.5  # packaged cold start vs the same zip without bytecode
DYNAMODB_COLD_GOAL = 0.50  # DynamoDB path (HTTPS) vs the 20-line peer
DYNAMODB_COLD_SQLITE_GOAL = 1.10  # DynamoDB path (HTTPS) vs the project's own SQLite path
DYNAMODB_WARM_GOAL = 0.70  # warm CPU per DynamoDB request vs the peer's
RSS_GOAL_MIB = 5.0  # RSS after init: DynamoDB path over the SQLite path, at most
WARM_GOAL = 1.0  # handler.handler vs the Flask test client, same request
BENCHMARKS_PAGE = REPO / "docs" / "benchmarks.md"
SIZE_LIMIT = 1.5 * 1024 * 1024
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")
PEER = Path(__file__).resolve().parent / "peer" / "peer_handler.py"
RUNTIME_BUNDLE = "botocore/cacert.pem"

# Runs inside a fresh `python -I -S -B`: the task directory first, then the runtime's
# packages, as Lambda orders sys.path. Prints init and init + first invoke (wall), the
# process's CPU time from its start (interpreter start-up included), and RSS.
COLD_START_PROBE = """
import sys, time, json
start = time.perf_counter()
task, runtime, module, event, baseline = sys.argv[1:6]
sys.path[:0] = [task]
sys.path.append(runtime)
def rss_mib():
    return next(int(l.split()[1]) for l in open("/proc/self/status")
                if l.startswith("VmRSS:")) / 1024
if baseline:  # bench/metrics_baselines.py: how app/metrics.py writes its line
    sys.path += sys.argv[6:8]  # last: bench/, then the libraries (metrics_libraries())
    __import__("metrics_baselines").install(baseline)
handler = __import__(module)
imported = time.perf_counter()
rss_init = rss_mib()
result = handler.handler(json.loads(event), None)
done = time.perf_counter()
assert result["statusCode"] == 201, result
print(json.dumps({"init_ms": (imported - start) * 1e3, "total_ms": (done - start) * 1e3,
                  "cpu_ms": time.process_time() * 1e3, "rss_init_mib": rss_init,
                  "rss_mib": rss_mib()}))
"""


def seed_request() -> Any:
    from tests.contract import SEED_DETAILS, form_post

    return form_post("/userDetails", SEED_DETAILS.replace("{user}", "sam"))


def seed_event(kind: str = "http_api_v2") -> dict[str, Any]:
    from tests.events import build_event

    return build_event(kind, seed_request(), base64_body=kind in ("http_api_v2", "function_url"))


# ---------------------------------------------------------------- the places things run


def runtime_site(cache: Path) -> Path:
    """/var/runtime's Python packages, copied from the venv once per botocore version."""
    import botocore

    site = Path(botocore.__file__).parent.parent
    target = cache / f"runtime-botocore-{botocore.__version__}"
    stamp = target / ".complete"
    if stamp.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in RUNTIME_PACKAGES:
        source = site / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    compile_unchecked(target)
    stamp.touch()
    return target


def compile_unchecked(tree: Path) -> None:
    """Bytecode for a directory of installed packages, as the zip ships it (unchecked hash)."""
    compileall.compile_dir(
        tree,
        quiet=2,
        workers=os.cpu_count() or 1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )


def unpack(zip_path: Path, into: Path, keep_bytecode: bool) -> Path:
    """The task directory Lambda would see; without bytecode, the same modules as source.

    Dependencies ship sourceless (.pyc only, to fit the size limit), so the stripped
    variant takes their sources from the requirements build the zip was made from.
    """
    sources = REPO / ".serverless" / "requirements"
    with zipfile.ZipFile(zip_path) as archive:
        for member in archive.infolist():
            name = member.filename
            if keep_bytecode or not name.endswith(".pyc"):
                archive.extract(member, into)
            elif "__pycache__" not in name:
                target = into / (name[:-1])
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(sources / name[:-1], target)
    return into


def add_peer(task: Path) -> Path:
    """The peer's task directory: the zip's dependencies plus its one module."""
    shutil.copy2(PEER, task / PEER.name)
    py_compile.compile(
        str(task / PEER.name),
        cfile=str(task / "__pycache__" / f"{PEER.stem}.{sys.implementation.cache_tag}.pyc"),
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    return task


def read_only(path: Path) -> None:  # Lambda's task directory is read-only
    for item in [path, *path.rglob("*")]:
        item.chmod(item.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def writable(path: Path) -> None:
    for item in [path, *path.rglob("*")]:
        if item.is_dir():
            item.chmod(item.stat().st_mode | stat.S_IWUSR)


def sourceless_modules(zip_path: Path) -> int:
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
    return sum(
        1
        for name in names
        if name.endswith(".pyc") and "__pycache__" not in name and name[:-1] not in names
    )


def metrics_libraries(cache: Path) -> Path:
    """The EMF libraries bench/metrics_baselines.py weighs, at the venv's versions, with their
    dependencies and nothing else: the venv's other modules would be found by the app's
    optional imports (snapshot_restore_py) and cost every leg that had them on sys.path."""
    from importlib.metadata import version

    pins = [
        f"{name}=={version(name)}" for name in ("aws-lambda-powertools", "aws-embedded-metrics")
    ]
    target = cache / ("metrics-libs-" + "-".join(pin.split("==")[1] for pin in pins))
    stamp = target / ".complete"
    if stamp.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--only-binary=:all:"]
    subprocess.run([*command, "--target", str(target), *pins], check=True)
    compile_unchecked(target)
    stamp.touch()
    return target


@dataclass
class Local:
    """The local DynamoDB table, over plain HTTP and behind the TLS front."""

    table: str
    http_url: str
    https_url: str
    test_ca: Any
    runtime: Path
    scratch: Path
    metrics_libraries: Path

    def env(self, store: str, bundle: Path | None = None) -> dict[str, str]:
        from tests.dynamo_server import DUMMY_AWS_ENV

        env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
        if store == "sqlite":
            return {**env, "USERS_DB": str(self.scratch / "tmp" / "users.sqlite3")}
        env.update(DUMMY_AWS_ENV)
        env["AWS_REGION"] = DUMMY_AWS_ENV["AWS_DEFAULT_REGION"]  # as Lambda sets it
        env["USERS_TABLE"] = self.table
        env["AWS_ENDPOINT_URL_DYNAMODB"] = self.https_url if store == "https" else self.http_url
        if bundle is not None:
            env["AWS_CA_BUNDLE"] = str(bundle)
        return env


@contextlib.contextmanager
def local_dynamodb(scratch: Path) -> Iterator[Local]:
    from tests import dynamo_server
    from tests.tls_front import make_test_ca, tls_front

    runtime = runtime_site(REPO / ".cache" / "bench")
    libraries = metrics_libraries(REPO / ".cache" / "bench")
    test_ca = make_test_ca(scratch / "ca")
    with dynamo_server.dynamodb_local() as server:
        os.environ.update(dynamo_server.DUMMY_AWS_ENV)
        client = dynamo_server.dynamodb_client(server.endpoint_url)
        table = dynamo_server.create_table(client)
        with tls_front(server.endpoint_url, test_ca) as https_url:
            yield Local(table, server.endpoint_url, https_url, test_ca, runtime, scratch, libraries)


# ---------------------------------------------------------------- 1. cold start


@dataclass(frozen=True)
class ColdLeg:
    label: str
    task: Path
    module: str
    env: dict[str, str]
    baseline: str = ""  # a metrics variant (bench/metrics_baselines.py), or none


def cold_legs(zip_path: Path, local: Local) -> list[ColdLeg]:
    from tests.tls_front import bundle_with

    scratch = local.scratch
    packaged = unpack(zip_path, scratch / "task", keep_bytecode=True)
    stripped = unpack(zip_path, scratch / "task-stripped", keep_bytecode=False)
    peer = add_peer(unpack(zip_path, scratch / "task-peer", keep_bytecode=True))
    # Each side's trust store plus the one test root (see the module docstring).
    roots = packaged / "app" / "store" / "amazon_roots.pem"
    bundle_with(local.test_ca, roots, roots)
    runtime_bundle = bundle_with(
        local.test_ca, local.runtime / RUNTIME_BUNDLE, scratch / "runtime-bundle+test-ca.pem"
    )
    for task in (packaged, stripped, peer):
        read_only(task)
    return [
        ColdLeg("sqlite", packaged, "handler", local.env("sqlite")),
        ColdLeg("sqlite, no bytecode", stripped, "handler", local.env("sqlite")),
        ColdLeg("dynamodb http", packaged, "handler", local.env("http")),
        ColdLeg("dynamodb https", packaged, "handler", local.env("https")),
        ColdLeg("20-line peer https", peer, PEER.stem, local.env("https", runtime_bundle)),
        *metrics_legs(packaged, local),
    ]


# app/metrics.py's own lines against none and against each library (goal: a library only if
# it adds at most METRICS_LIBRARY_LIMIT to the cold start), on the SQLite path, where the
# share is largest.
METRICS_LEGS = {
    "own": "sqlite, own EMF lines",
    "no-metrics": "sqlite, no metrics",
    "powertools": "sqlite, Powertools Metrics",
    "aws-embedded-metrics": "sqlite, aws-embedded-metrics",
}
METRICS_LIBRARY_LIMIT = 1.03


def metrics_legs(packaged: Path, local: Local) -> list[ColdLeg]:
    env = local.env("sqlite")
    return [
        ColdLeg(label, packaged, "handler", env, variant) for variant, label in METRICS_LEGS.items()
    ]


# What each library adds at init on top of the app's own imports, in a fresh process: the
# cold-start legs above differ by less than this machine's noise, this does not.
LIBRARY_IMPORT_PROBE = """
import sys, time
task, runtime, bench, libraries, variant = sys.argv[1:6]
sys.path[:0] = [task]
sys.path += [runtime, bench, libraries]
import handler, metrics_baselines  # the app as shipped: its imports are paid either way
start = time.process_time()
metrics_baselines.VARIANTS[variant]()
print((time.process_time() - start) * 1e3)
"""


def library_import_ms(task: Path, local: Local, runs: int) -> dict[str, float]:
    """Median CPU ms of each metrics library's import and set-up, interleaved runs."""
    results: dict[str, list[float]] = {
        variant: [] for variant in ("powertools", "aws-embedded-metrics")
    }
    bench_dir = str(Path(__file__).resolve().parent)
    for _ in range(runs):
        for variant, samples in results.items():
            command = [sys.executable, "-I", "-S", "-B", "-c", LIBRARY_IMPORT_PROBE, str(task)]
            command += [str(local.runtime), bench_dir, str(local.metrics_libraries), variant]
            out = subprocess.run(
                command, env=local.env("sqlite"), capture_output=True, text=True, check=False
            )
            if out.returncode != 0:
                raise SystemExit(f"library import probe failed ({variant}):\n{out.stderr}")
            samples.append(float(out.stdout.strip().splitlines()[-1]))
    return {variant: statistics.median(samples) for variant, samples in results.items()}


def metrics_rows(
    compare: Callable[[str, str], tuple[str, float]], imports: dict[str, float], cold_ms: float
) -> list[tuple[str, str, str]]:
    rows = [
        (
            "cold, SQLite: own EMF lines / no metrics",
            compare(METRICS_LEGS["own"], METRICS_LEGS["no-metrics"])[0],
            "",
        )
    ]
    for variant in ("powertools", "aws-embedded-metrics"):
        name = METRICS_LEGS[variant].split(", ")[1]
        rows.append(
            (
                f"cold, SQLite: {name} / own EMF lines",
                compare(METRICS_LEGS[variant], METRICS_LEGS["own"])[0],
                "",
            )
        )
        share = imports[variant] / cold_ms
        ok = share <= METRICS_LIBRARY_LIMIT - 1
        rows.append(
            (
                f"{name}: import and set-up on top of the app / SQLite cold start",
                f"CPU {imports[variant]:.1f} / {cold_ms:.0f} ms = {share:.1%}",
                f"≤ {METRICS_LIBRARY_LIMIT - 1:.0%} to use it: {'use it' if ok else 'own lines'}",
            )
        )
    return rows


def cold_start(legs: list[ColdLeg], local: Local, runs: int) -> dict[str, dict[str, float]]:
    event = json.dumps(seed_event())
    results: dict[str, list[dict[str, float]]] = {leg.label: [] for leg in legs}
    for _ in range(runs):  # interleaved, so drift hits every leg alike
        for leg in legs:
            command = [sys.executable, "-I", "-S", "-B", "-c", COLD_START_PROBE]
            command += [str(leg.task), str(local.runtime), leg.module, event, leg.baseline]
            command += [str(Path(__file__).resolve().parent), str(local.metrics_libraries)]
            out = subprocess.run(command, env=leg.env, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise SystemExit(f"cold start probe failed ({leg.label}):\n{out.stderr}")
            results[leg.label].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        label: {key: statistics.median(r[key] for r in runs_) for key in runs_[0]}
        for label, runs_ in results.items()
    }


# ---------------------------------------------------------------- 2. warm cost (worker)


def per_call_us(fn: Callable[[], object], calls: int) -> tuple[float, float]:
    """(wall, CPU of this thread) per call. CPU leaves out the time spent waiting for the
    DynamoDB server, which is the same for every variant and far noisier than the rest."""
    start, cpu_start = time.perf_counter(), time.thread_time()
    for _ in range(calls):
        fn()
    wall, cpu = time.perf_counter() - start, time.thread_time() - cpu_start
    return wall / calls * 1e6, cpu / calls * 1e6


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    real = sys.stdout
    with open(os.devnull, "w") as devnull:
        sys.stdout = devnull  # the request log would flood the report
        try:
            yield
        finally:
            sys.stdout = real


def warm_worker(store: str, rounds: int, calls: int) -> dict[str, Any]:
    """In a process of its own (handler.py builds its app at import, from the env)."""
    import handler
    from tests.channels import LambdaContext
    from tests.events import EVENT_KINDS

    request = seed_request()
    context = LambdaContext()
    client = handler.app.test_client()
    headers = list(request.headers)

    def test_client() -> object:
        response = client.post(request.path, headers=headers, data=request.body)
        assert response.status_code == 201
        return response

    variants: dict[str, Callable[[], object]] = {"flask test client": test_client}
    kinds = EVENT_KINDS if store == "sqlite" else ("http_api_v2", "rest_v1")
    for kind in kinds:
        event = seed_event(kind)

        def invoke(event: dict = event) -> object:
            result = handler.handler(event, context)
            assert result["statusCode"] == 201, result
            return result

        variants[f"handler: {kind}"] = invoke

    user_store = handler.app.extensions["user_store"]
    meter = None
    if store != "sqlite":
        meter = user_store.client = ClientMeter(user_store.client)
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
    with quiet_stdout():
        for fn in variants.values():
            per_call_us(fn, 30)  # warm caches, connections, imports
        for _ in range(rounds):
            for name, fn in variants.items():
                inside_before = meter.cpu if meter else 0.0
                wall, cpu = per_call_us(fn, calls)
                inside = ((meter.cpu if meter else 0.0) - inside_before) / calls * 1e6
                samples[name].append((wall, cpu, cpu - inside))
    report: dict[str, Any] = {}
    for name, values in samples.items():
        report[name] = {
            key: statistics.median(v[i] for v in values)
            for i, key in enumerate(("wall", "cpu", "cpu_outside_client"))
        }
    return report


class ClientMeter:
    """The store's DynamoDB client, counting the CPU time this thread spends inside it."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.cpu = 0.0

    def call(self, operation: str, request: Any) -> dict[str, Any]:
        start = time.thread_time()
        try:
            return self.client.call(operation, request)  # type: ignore[no-any-return]
        finally:
            self.cpu += time.thread_time() - start

    def close(self) -> None:
        self.client.close()


def dynamodb_request_worker(side: str, rounds: int, calls: int) -> dict[str, float]:
    """This thread's CPU per seed POST through the handler, DynamoDB client included: the
    project's handler.handler, or the peer's (bench/peer/peer_handler.py)."""
    from tests.channels import LambdaContext

    if side == "peer":
        sys.path.insert(0, str(PEER.parent))
    handler = __import__("handler" if side == "project" else PEER.stem)
    event = seed_event()
    context = LambdaContext()

    def invoke() -> object:
        result = handler.handler(event, context)
        assert result["statusCode"] == 201, result
        return result

    samples: list[float] = []
    with quiet_stdout():
        per_call_us(invoke, 30)  # warm caches and the connection
        for _ in range(rounds):
            samples.append(per_call_us(invoke, calls)[1])
    return {"cpu_us": statistics.median(samples)}


def memory_worker(requests: int) -> dict[str, float]:
    """RSS after init, after 1,000 requests and after ``requests``: growth per request."""
    import gc

    def rss_kib() -> int:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

    import handler
    from tests.channels import LambdaContext

    after_init = rss_kib()
    event = seed_event()
    context = LambdaContext()
    marks = {}
    with quiet_stdout():
        for n in range(1, requests + 1):
            result = handler.handler(event, context)
            assert result["statusCode"] == 201, result
            if n in (1_000, requests):
                gc.collect()
                marks[n] = rss_kib()
    return {
        "after_init_mib": after_init / 1024,
        "after_1k_mib": marks[1_000] / 1024,
        "after_all_mib": marks[requests] / 1024,
        "bytes_per_request": (marks[requests] - marks[1_000]) * 1024 / (requests - 1_000),
    }


def run_worker(mode: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", mode, *args]
    full_env = {**os.environ, **env}
    full_env.pop("AWS_CA_BUNDLE", None)
    if "AWS_CA_BUNDLE" in env:
        full_env["AWS_CA_BUNDLE"] = env["AWS_CA_BUNDLE"]
    out = subprocess.run(command, env=full_env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"bench worker {mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- 3. password sign-up CPU


def password_signup_rows() -> list[tuple[str, str, str]]:
    """argon2id (app/passwords.py) against werkzeug's scrypt default, interleaved in one run,
    and a 409 (decided before any hashing) against a 200 (bench/password_cost.py)."""
    from password_cost import ROUNDS, measure  # bench/ is on sys.path: it holds this script

    m = measure()
    print(f"\n4. password sign-up, CPU ms, medians of {ROUNDS} interleaved rounds")
    for name, value in m.items():
        print(f"   {name:24} {value:9.3f}")
    hash_ratio = m["argon2id_vs_scrypt"]
    taken_ratio = m["sign_up_409_vs_200"]
    return [
        (
            "sign-up hash CPU: argon2id (OWASP min) / werkzeug scrypt default",
            f"{m['argon2id_hash']:.1f} / {m['werkzeug_scrypt_hash']:.1f} ms = {hash_ratio:.2f}x",
            f"≤ 0.25x {verdict(hash_ratio <= 0.25)}",
        ),
        (
            "sign-up CPU: taken name (409) / new name (200)",
            f"{m['sign_up_409']:.2f} / {m['sign_up_200']:.1f} ms = {taken_ratio:.3f}x",
            f"no hash on 409 {verdict(taken_ratio < 0.1)}",
        ),
    ]


# ---------------------------------------------------------------- the report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--zip", type=Path, default=REPO / ".serverless" / "user-api.zip")
    parser.add_argument("--cold-runs", type=int, default=15)
    parser.add_argument("--warm-rounds", type=int, default=45)
    parser.add_argument("--warm-calls", type=int, default=60)
    parser.add_argument("--memory-requests", type=int, default=10_000)
    parser.add_argument(
        "--parts",
        default="cold,warm,memory,password",
        help="comma-separated: cold, warm, memory, password",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("worker_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker == "warm":
        store, rounds, calls = args.worker_args
        print(json.dumps(warm_worker(store, int(rounds), int(calls))))
        return
    if args.worker == "memory":
        print(json.dumps(memory_worker(int(args.worker_args[0]))))
        return
    if args.worker == "dynamodb-request":
        side, rounds, calls = args.worker_args
        print(json.dumps(dynamodb_request_worker(side, int(rounds), int(calls))))
        return

    rows: list[tuple[str, str, str]] = []  # measure, result, goal
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; shared and noisy,")
    print("so compare the ratios, which are measured side by side, not absolute times.\n")
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch_name:
        scratch = Path(scratch_name)
        try:
            with local_dynamodb(scratch) as local:
                report(args, local, rows)
        finally:
            writable(scratch)
    print("\n" + table(rows))
    write_benchmarks_page(rows, args.parts)


def report(args: argparse.Namespace, local: Local, rows: list[tuple[str, str, str]]) -> None:
    parts = set(args.parts.split(","))
    if "cold" in parts:
        report_cold(args, local, rows)
    if "warm" in parts:
        report_warm(args, local, rows)
    if "memory" in parts:
        report_memory(args, local, rows)
    if "password" in parts:
        rows.extend(password_signup_rows())

    size = args.zip.stat().st_size
    rows.append(
        (
            "zip size",
            f"{size:,} bytes ({size / 1024 / 1024:.2f} MiB)",
            f"≤ 1.5 MiB {verdict(size <= SIZE_LIMIT)}",
        )
    )


def verdict(ok: bool) -> str:
    return "✔" if ok else "✘"


def report_cold(args: argparse.Namespace, local: Local, rows: list[tuple[str, str, str]]) -> None:
    legs = cold_legs(args.zip, local)
    cold = cold_start(legs, local, args.cold_runs)
    print(f"1. cold start = init + first invoke (seed POST), median of {args.cold_runs}")
    print("   interleaved runs in fresh `python -I -S -B` over the read-only task dir; CPU is")
    print("   the process's own (start-up included), which other jobs on the machine do not")
    print("   inflate: the ratios below are on CPU, with wall time beside them:")
    for label, numbers in cold.items():
        print(
            f"   {label:<30} init {numbers['init_ms']:6.1f} ms  "
            f"init+invoke {numbers['total_ms']:6.1f} ms  CPU {numbers['cpu_ms']:6.1f} ms  "
            f"RSS {numbers['rss_init_mib']:5.1f} / {numbers['rss_mib']:5.1f} MiB"
        )

    def compare(label: str, over: str) -> tuple[str, float]:
        cpu = cold[label]["cpu_ms"] / cold[over]["cpu_ms"]
        wall = cold[label]["total_ms"] / cold[over]["total_ms"]
        text = (
            f"CPU {cold[label]['cpu_ms']:.0f} / {cold[over]['cpu_ms']:.0f} ms = {cpu:.2f}x "
            f"(wall {cold[label]['total_ms']:.0f} / {cold[over]['total_ms']:.0f} ms = {wall:.2f}x)"
        )
        return text, cpu

    text, ratio = compare("sqlite", "sqlite, no bytecode")
    rows.append(
        (
            "cold, SQLite: packaged / no bytecode",
            text,
            f"≤ {COLD_START_GOAL}x {verdict(ratio <= COLD_START_GOAL)}",
        )
    )
    text, ratio = compare("dynamodb https", "20-line peer https")
    rows.append(
        (
            "goal: cold, DynamoDB HTTPS: project / 20-line peer",
            text,
            f"≤ {DYNAMODB_COLD_GOAL}x {verdict(ratio <= DYNAMODB_COLD_GOAL)}",
        )
    )
    text, ratio = compare("dynamodb https", "sqlite")
    rows.append(
        (
            "goal: cold, DynamoDB HTTPS / project's SQLite",
            text,
            f"≤ {DYNAMODB_COLD_SQLITE_GOAL}x {verdict(ratio <= DYNAMODB_COLD_SQLITE_GOAL)}",
        )
    )
    rows.append(("cold, DynamoDB plain HTTP / SQLite", compare("dynamodb http", "sqlite")[0], ""))
    packaged = next(leg.task for leg in legs if leg.label == "sqlite")
    imports = library_import_ms(packaged, local, args.cold_runs)
    rows.extend(metrics_rows(compare, imports, cold["sqlite"]["cpu_ms"]))
    rss = {label: numbers["rss_init_mib"] for label, numbers in cold.items()}
    over = rss["dynamodb https"] - rss["sqlite"]
    rows.append(
        (
            "goal: RSS after init, DynamoDB - SQLite",
            f"{rss['dynamodb https']:.1f} - {rss['sqlite']:.1f} MiB = {over:+.1f} MiB "
            f"(peer {rss['20-line peer https']:.1f} MiB)",
            f"≤ {RSS_GOAL_MIB:.0f} MiB {verdict(over <= RSS_GOAL_MIB)}",
        )
    )
    sourceless = sourceless_modules(args.zip)
    if sourceless:
        print(f"   ({sourceless} dependency modules ship as bytecode only; the no-bytecode")
        print("   variant uses their sources from .serverless/requirements.)")


def report_warm(args: argparse.Namespace, local: Local, rows: list[tuple[str, str, str]]) -> None:
    print(f"\n2. warm cost per invocation, seed POST /userDetails, median of {args.warm_rounds}")
    print(f"   interleaved rounds x {args.warm_calls} calls (SQLite upsert or DynamoDB write);")
    print("   compared on this thread's CPU time (other jobs inflate wall time at random); on")
    print("   DynamoDB, outside the client, whose work, wait and server are the same for all:")
    warm_legs = {
        "SQLite": ("sqlite", local.env("sqlite"), args.warm_rounds, args.warm_calls),
        # DynamoDB calls cost milliseconds against the local server: fewer calls per round.
        "DynamoDB http": ("http", local.env("http"), args.warm_rounds, args.warm_calls // 2),
        "DynamoDB https": (
            "https",
            local.env("https", local.test_ca.ca_pem),
            args.warm_rounds,
            args.warm_calls // 2,
        ),
    }
    for title, (store, env, rounds, calls) in warm_legs.items():
        result = run_worker("warm", env, store, str(rounds), str(calls))
        # This thread's CPU time: other jobs on the shared machine inflate wall time at
        # random. DynamoDB: outside the DynamoDB client, whose work is the same for both.
        key = "cpu" if store == "sqlite" else "cpu_outside_client"
        reference = result["flask test client"][key]
        columns = "wall / CPU" if store == "sqlite" else "wall / CPU / CPU outside client"
        print(f"   {title}:   ({columns})")
        for name, m in result.items():
            extra = f"{m['wall']:7.1f} /" + ("" if store == "sqlite" else f" {m['cpu']:7.1f} /")
            ratio = m[key] / reference
            print(f"     {name:<26} {extra} {m[key]:7.1f} us  {ratio:5.2f}x test client")
        handlers = {k: v[key] for k, v in result.items() if k.startswith("handler")}
        low, high = min(handlers.values()) / reference, max(handlers.values()) / reference
        rows.append(
            (
                f"warm, {title}: handler / Flask test client"
                + (" (CPU)" if store == "sqlite" else " (CPU outside the DynamoDB client)"),
                f"{min(handlers.values()):.0f}-{max(handlers.values()):.0f} vs "
                f"{reference:.0f} µs = {low:.2f}-{high:.2f}x",
                f"< {WARM_GOAL:.0f}x {verdict(high < WARM_GOAL)}",
            )
        )
    report_dynamodb_requests(args, local, rows)


def report_dynamodb_requests(
    args: argparse.Namespace, local: Local, rows: list[tuple[str, str, str]]
) -> None:
    """Warm CPU per DynamoDB request, client included: the project and the peer over
    HTTPS, alternating processes so that drift hits both alike."""
    from tests.tls_front import bundle_with

    alternations = 3
    rounds = max(1, args.warm_rounds // alternations)
    calls = max(1, args.warm_calls // 2)
    bundle = local.runtime / RUNTIME_BUNDLE
    peer_bundle = bundle_with(local.test_ca, bundle, local.scratch / "warm-peer-bundle.pem")
    sides = {
        "project": local.env("https", local.test_ca.ca_pem),
        "peer": local.env("https", peer_bundle),
    }
    samples: dict[str, list[float]] = {side: [] for side in sides}
    for _ in range(alternations):
        for side, env in sides.items():
            result = run_worker("dynamodb-request", env, side, str(rounds), str(calls))
            samples[side].append(result["cpu_us"])
    project, peer = (statistics.median(samples[side]) for side in sides)
    print(f"   DynamoDB request, HTTPS, CPU per request (client included): project {project:.0f}")
    print(f"   µs, peer {peer:.0f} µs (median of {alternations} alternating processes)")
    ratio = project / peer
    rows.append(
        (
            "goal: warm CPU per DynamoDB request (HTTPS): project / peer",
            f"{project:.0f} / {peer:.0f} µs = {ratio:.2f}x",
            f"≤ {DYNAMODB_WARM_GOAL}x {verdict(ratio <= DYNAMODB_WARM_GOAL)}",
        )
    )


def report_memory(args: argparse.Namespace, local: Local, rows: list[tuple[str, str, str]]) -> None:
    print(f"\n3. memory, {args.memory_requests:,} handler invocations in one process:")
    for title, env in (("SQLite", local.env("sqlite")), ("DynamoDB http", local.env("http"))):
        memory = run_worker("memory", env, str(args.memory_requests))
        print(
            f"   {title:<14} after init {memory['after_init_mib']:.1f} MiB, after 1,000 "
            f"{memory['after_1k_mib']:.1f}, after {args.memory_requests:,} "
            f"{memory['after_all_mib']:.1f} MiB ({memory['bytes_per_request']:.1f} B/request)"
        )
        flat = memory["bytes_per_request"] < 64
        rows.append(
            (
                f"memory, {title}: RSS init → {args.memory_requests:,} requests",
                f"{memory['after_init_mib']:.1f} → {memory['after_all_mib']:.1f} MiB, "
                f"{memory['bytes_per_request']:.1f} B/request after the first 1,000",
                f"flat {verdict(flat)}",
            )
        )


def table(rows: list[tuple[str, str, str]]) -> str:
    lines = ["| measure | result | goal |", "|---|---|---|"]
    lines += [f"| {measure} | {result} | {goal} |" for measure, result, goal in rows]
    return "\n".join(lines) + "\n"


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    return f"{model}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"


def commit() -> str:
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return out.stdout.strip()

    page = str(BENCHMARKS_PAGE.relative_to(REPO))  # this run's own output
    changed = git("status", "--porcelain", "--", ".", f":(exclude){page}")
    changed = " (with uncommitted changes)" if changed else ""
    return (git("rev-parse", "--short=12", "HEAD") or "unknown") + changed


def write_benchmarks_page(rows: list[tuple[str, str, str]], parts: str) -> None:
    """docs/benchmarks.md: the latest table, where it ran, when, on which commit."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    BENCHMARKS_PAGE.write_text(
        "# Benchmarks\n\n"
        "Generated by `make bench` (bench/bench.py); do not edit by hand. What each row\n"
        "measures, and why, is in [performance.md](performance.md).\n\n"
        f"- date: {now}\n"
        f"- commit: {commit()}\n"
        f"- machine: {machine()}; Python {platform.python_version()}\n"
        f"- parts: {parts}\n\n"
        "Ratios are measured side by side in this one run; compare them, not absolute times\n"
        "(the machine may be shared).\n\n" + table(rows)
    )
    print(f"\nwritten: {BENCHMARKS_PAGE.relative_to(REPO)}")


if __name__ == "__main__":
    main()
