"""`scripts/sls package` builds, each param combination packaged once per test session.

The zip tests (test_package.py), the template tests (test_template.py) and the deploy rehearsal
(test_deploy_rehearsal.py) share these builds: packaging costs a few seconds per combination.
Builds go to a temporary directory, so the developer's .serverless/ is left alone.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SLS = ROOT / "scripts" / "sls"
SERVICE = "user-api"
STAGE = "dev"
ALB_LISTENER_ARN = (
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
    "listener/app/user-api/50dc6c495c0c9188/f2f7dc8efc522ab2"
)

# The name the default stack gives its table: what the runbook adopts after `make remove`.
KEPT_TABLE = f"{SERVICE}-{STAGE}-users"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:ops-alarms"

# Param combinations that the template tests and the rehearsal share.
VARIANTS: dict[str, tuple[str, ...]] = {
    "default": (),
    "rest": ("restApi=true",),
    # Per-client limits: AWS WAF's rate-based rule on the REST stage.
    "waf": ("restApi=true", "perClientRateLimit=500"),
    "url-public": ("functionUrl=public",),
    "alb": (f"albListenerArn={ALB_LISTENER_ARN}",),
    # With SnapStart, which every door, the Lattice target included, must invoke by its alias.
    "lattice": ("latticeTarget=true", "latticeEventVersion=V1", "snapStart=true"),
    # Also the IAM-only function URL, which is no public door: one package fewer.
    "adopt": (f"usersTable={KEPT_TABLE}", f"alarmTopicArn={TOPIC_ARN}", "functionUrl=iam"),
    "ops": (
        "alarmEmail=ops@example.com",
        "tracing=true",
        "rateLimit=60",
        "burstLimit=120",
        "signUpRateLimit=3",
        "signUpBurstLimit=6",
        "reservedConcurrency=25",
        "logLevel=WARN",
    ),
}


@dataclass(frozen=True)
class Build:
    directory: Path
    params: tuple[str, ...]

    @property
    def zip_path(self) -> Path:
        return self.directory / f"{SERVICE}.zip"

    @property
    def template_path(self) -> Path:
        return self.directory / "cloudformation-template-update-stack.json"

    def template(self) -> dict[str, Any]:
        return json.loads(self.template_path.read_text())

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template()["Resources"].items() if v["Type"] == type_}


_lock_depth = 0


@contextlib.contextmanager
def osls_lock() -> Iterator[None]:
    """One osls run at a time across pytest-xdist workers: every run reads and rewrites the
    repository's .serverless/ (`package --package DIR` deletes .serverless/user-api.zip) and
    shares the requirements cache. Every test that runs osls holds it (run_sls, and
    tests/offline_server.py until the server listens)."""
    global _lock_depth
    if _lock_depth:  # already held by this process (packaged() around run_sls)
        yield
        return
    lock_path = ROOT / ".cache" / "osls.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _lock_depth += 1
        try:
            yield
        finally:
            _lock_depth -= 1


def run_sls(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``scripts/sls ARGS`` to completion, holding :func:`osls_lock`."""
    for name in ("node_modules/.bin/osls", ".venv/bin/python"):
        assert (ROOT / name).exists(), f"{name} missing: run `make node_modules venv`"
    with osls_lock():
        return subprocess.run(
            [str(SLS), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )


def run_package(directory: Path, *params: str) -> subprocess.CompletedProcess[str]:
    return run_sls("package", "--package", str(directory), *[f"--param={p}" for p in params])


_builds: dict[tuple[str, ...], Build] = {}
# Set by tests/conftest.py to a directory all pytest-xdist workers of the run share, so each
# combination is packaged once per run, not once per worker.
shared_builds_dir: Path | None = None
_own_dir: Path | None = None


def builds_dir() -> Path:
    global _own_dir
    if shared_builds_dir is not None:
        return shared_builds_dir
    if _own_dir is None:
        _own_dir = Path(tempfile.mkdtemp(prefix="user-api-packages-"))
        atexit.register(shutil.rmtree, _own_dir, ignore_errors=True)
    return _own_dir


def packaged(*params: str) -> Build:
    """The build for these params ("name=value"), packaged on first use in this test run."""
    key = tuple(sorted(params))
    if key not in _builds:
        name = hashlib.sha256("\0".join(key).encode()).hexdigest()[:16]
        directory = builds_dir() / f"build-{name}"
        done = builds_dir() / f"build-{name}.done"
        with osls_lock():  # another worker may be building it: wait, then reuse its build
            if not done.exists():
                result = run_package(directory, *key)
                assert result.returncode == 0, (
                    f"osls package failed:\n{result.stdout}\n{result.stderr}"
                )
                done.touch()
        _builds[key] = Build(directory, key)
    return _builds[key]
