"""`make bench`: cold start of the packaged zip, warm cost per invocation, zip size.

Every comparison is measured side by side in one run, interleaved, and reported as
medians and ratios: the machine is shared and noisy, so absolute numbers drift
between runs while ratios hold.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

COLD_START_GOAL = 0.5  # packaged cold start vs the same zip without bytecode
WARM_GOAL = 0.8  # handler.handler vs the Flask test client, same request

# Runs inside a fresh `python -I -S -B` whose only import path is the task directory,
# as in Lambda (whose runtime adds the task root to sys.path).
COLD_START_PROBE = """
import sys, time, json
start = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import handler
imported = time.perf_counter()
event = json.loads(sys.argv[2])
result = handler.handler(event, None)
done = time.perf_counter()
assert result["statusCode"] == 201, result
print(json.dumps({"init_ms": (imported - start) * 1e3, "total_ms": (done - start) * 1e3}))
"""


def seed_request():
    from tests.contract import SEED_DETAILS, form_post

    return form_post("/userDetails", SEED_DETAILS.replace("{user}", "sam"))


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
    for path in into.rglob("*"):  # Lambda's task directory is read-only
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    into.chmod(into.stat().st_mode & ~stat.S_IWUSR)
    return into


def sourceless_modules(zip_path: Path) -> int:
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
    return sum(
        1
        for name in names
        if name.endswith(".pyc")
        and "__pycache__" not in name
        and name[:-1] not in names  # foo.pyc beside no foo.py
    )


def cold_start(zip_path: Path, runs: int) -> dict[str, dict[str, float]]:
    from tests.events import build_event

    event = json.dumps(build_event("http_api_v2", seed_request(), base64_body=True))
    python = sys.executable
    results: dict[str, list[dict[str, float]]] = {"bytecode": [], "stripped": []}
    with tempfile.TemporaryDirectory(prefix="bench-task-") as scratch:
        scratch_path = Path(scratch)
        tasks = {
            "bytecode": unpack(zip_path, scratch_path / "with", keep_bytecode=True),
            "stripped": unpack(zip_path, scratch_path / "without", keep_bytecode=False),
        }
        env = {
            "PATH": os.environ.get("PATH", ""),
            "USERS_DB": str(scratch_path / "tmp" / "users.sqlite3"),  # Lambda's /tmp
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        for _ in range(runs):  # interleaved, so drift hits both alike
            for label, task in tasks.items():
                out = subprocess.run(
                    [python, "-I", "-S", "-B", "-c", COLD_START_PROBE, str(task), event],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if out.returncode != 0:
                    raise SystemExit(f"cold start probe failed ({label}):\n{out.stderr}")
                results[label].append(json.loads(out.stdout.strip().splitlines()[-1]))
        for task in tasks.values():
            for path in [task, *task.rglob("*")]:
                if path.is_dir():
                    path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return {
        label: {key: statistics.median(r[key] for r in runs_) for key in ("init_ms", "total_ms")}
        for label, runs_ in results.items()
    }


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def warm(rounds: int, calls: int) -> dict[str, float]:
    os.environ["USERS_DB"] = str(Path(tempfile.mkdtemp(prefix="bench-warm-")) / "users.sqlite3")
    import handler
    from tests.channels import LambdaContext
    from tests.events import EVENT_KINDS, build_event

    request = seed_request()
    context = LambdaContext()
    client = handler.app.test_client()
    headers = list(request.headers)

    def test_client() -> object:
        response = client.post(request.path, headers=headers, data=request.body)
        assert response.status_code == 201
        return response

    environ_base = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": request.path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "lambda",
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": request.header("Content-Type"),
        "CONTENT_LENGTH": str(len(request.body)),
        "HTTP_ACCEPT": "*/*",
        "wsgi.url_scheme": "https",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }

    def wsgi_direct() -> object:
        import io

        environ = dict(environ_base, **{"wsgi.input": io.BytesIO(request.body)})
        status: list[str] = []
        body = b"".join(handler.app.wsgi_app(environ, lambda s, h, e=None: status.append(s)))
        assert status[0].startswith("201"), status
        return body

    variants: dict[str, Callable[[], object]] = {
        "flask test client": test_client,
        "app.wsgi_app direct": wsgi_direct,
    }
    for kind in EVENT_KINDS:
        event = build_event(kind, request, base64_body=kind in ("http_api_v2", "function_url"))

        def invoke(event: dict = event) -> object:
            result = handler.handler(event, context)
            assert result["statusCode"] == 201
            return result

        variants[f"handler: {kind}"] = invoke

    samples: dict[str, list[float]] = {name: [] for name in variants}
    devnull = open(os.devnull, "w")  # noqa: SIM115 - the request log would flood the report
    real_stdout = sys.stdout
    try:
        sys.stdout = devnull
        for fn in variants.values():
            per_call_us(fn, 50)  # warm caches, connections, imports
        for _ in range(rounds):
            for name, fn in variants.items():
                samples[name].append(per_call_us(fn, calls))
    finally:
        sys.stdout = real_stdout
        devnull.close()
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--zip", type=Path, default=REPO / ".serverless" / "user-api.zip")
    parser.add_argument("--cold-runs", type=int, default=15)
    parser.add_argument("--warm-rounds", type=int, default=15)
    parser.add_argument("--warm-calls", type=int, default=200)
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; shared and noisy,")
    print("so compare the ratios, which are measured side by side, not absolute times.\n")

    cold = cold_start(args.zip, args.cold_runs)
    ratio = cold["bytecode"]["total_ms"] / cold["stripped"]["total_ms"]
    print(f"1. cold start (init + first invoke), median of {args.cold_runs} interleaved runs,")
    print("   fresh `python -I -S -B` over the unzipped read-only task directory:")
    for label, numbers in cold.items():
        print(
            f"   {label:<9} init {numbers['init_ms']:7.1f} ms   "
            f"init+first invoke {numbers['total_ms']:7.1f} ms"
        )
    verdict = "meets" if ratio <= COLD_START_GOAL else "MISSES"
    print(f"   ratio packaged / stripped: {ratio:.2f}  ({verdict} the <= {COLD_START_GOAL} goal)")
    sourceless = sourceless_modules(args.zip)
    if sourceless:
        print(f"   ({sourceless} dependency modules ship as bytecode only; the stripped variant")
        print("   uses their sources from .serverless/requirements.)")

    print(f"\n2. warm cost per invocation, seed POST /userDetails, median of {args.warm_rounds}")
    print(f"   interleaved rounds x {args.warm_calls} calls (includes the SQLite upsert):")
    warm_results = warm(args.warm_rounds, args.warm_calls)
    reference = warm_results["flask test client"]
    for name, micros in warm_results.items():
        print(f"   {name:<28} {micros:8.1f} us   {micros / reference:5.2f}x test client")
    worst = max(v for k, v in warm_results.items() if k.startswith("handler"))
    verdict = "meets" if worst / reference <= WARM_GOAL else "MISSES"
    print(f"   slowest handler kind / test client: {worst / reference:.2f}  ({verdict} the")
    print(f"   <= {WARM_GOAL} goal)")

    size = args.zip.stat().st_size
    print(f"\n3. zip size: {size:,} bytes ({size / 1024 / 1024:.2f} MiB; limit 1.5 MB)")


if __name__ == "__main__":
    main()
