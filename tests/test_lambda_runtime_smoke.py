"""Smoke tests of the RIE harness itself, against a throwaway handler in tmp_path.

They pin down what the rest of the suite relies on: events arrive intact, the context is real,
errors and timeouts are reported as in AWS, logs are captured, and no process outlives the
context manager.
"""

from __future__ import annotations

import contextlib
import os
import signal
import textwrap
import threading
from pathlib import Path

import pytest

from tests.lambda_runtime import LambdaInvokeError, is_lambda_error, running_lambda

pytestmark = pytest.mark.slow

HANDLER_SOURCE = textwrap.dedent(
    """
    import os
    import time

    COLD = {"count": 0}
    print("module imported", flush=True)


    def handler(event, context):
        COLD["count"] += 1
        action = event.get("action") if isinstance(event, dict) else None
        if action == "raise":
            raise ValueError("boom from handler")
        if action == "sleep":
            print("sleeping", flush=True)
            time.sleep(event["seconds"])
        if action == "unserialisable":
            return {1, 2}
        print(f"handled {context.aws_request_id}", flush=True)
        return {
            "event": event,
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "invocations_in_process": COLD["count"],
            "pid": os.getpid(),
            "env": {k: os.environ.get(k) for k in event.get("env", [])}
            if isinstance(event, dict)
            else {},
        }
    """
)


@pytest.fixture
def task_root(tmp_path: Path) -> Path:
    (tmp_path / "echo_handler.py").write_text(HANDLER_SOURCE)
    return tmp_path


def _alive(pid: int) -> bool:
    """True if pid is a live process (zombies count as dead: they hold no resources but a slot,
    and are only expected if nobody reaps them, which is itself a leak we want to see)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def test_echoes_event_with_a_real_context(task_root: Path) -> None:
    event = {
        "rawPath": "/users",
        "body": '{"name": "Ada"}',
        "nested": {"list": [1, 2.5, None, True], "unicode": "héllo ✓"},
        "env": ["AWS_REGION", "AWS_ACCESS_KEY_ID", "MY_SETTING", "AWS_LAMBDA_RUNTIME_API"],
    }
    with running_lambda(
        "echo_handler.handler",
        env={"AWS_LAMBDA_FUNCTION_NAME": "users-api", "MY_SETTING": "42"},
        cwd=task_root,
    ) as fn:
        first = fn.invoke(event, check=True)
        second = fn.invoke(event, check=True)
        logs = fn.wait_for_log(f"REPORT RequestId: {second['aws_request_id']}")

    assert first["event"] == event
    assert second["event"] == event
    for result in (first, second):
        assert isinstance(result["aws_request_id"], str)
        assert result["aws_request_id"]
        assert result["function_name"] == "users-api"
        assert 0 < result["remaining_ms"] <= 30_000
    assert first["aws_request_id"] != second["aws_request_id"]
    # One warm process serves both invokes, as in AWS.
    assert (first["invocations_in_process"], second["invocations_in_process"]) == (1, 2)
    assert first["pid"] == second["pid"]
    env = first["env"]
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert env["MY_SETTING"] == "42"
    assert env["AWS_LAMBDA_RUNTIME_API"] != "127.0.0.1:9001"  # not the fixed default port
    assert logs.count("module imported") == 1
    assert f"handled {first['aws_request_id']}" in logs


@pytest.mark.parametrize("event", [None, [1, "two"], "text", 7])
def test_non_dict_events_round_trip(task_root: Path, event: object) -> None:
    with running_lambda("echo_handler.handler", cwd=task_root) as fn:
        assert fn.invoke(event, check=True)["event"] == event


def test_uncaught_exception_returns_error_payload(task_root: Path) -> None:
    with running_lambda("echo_handler.handler", cwd=task_root) as fn:
        result = fn.invoke({"action": "raise"})
        assert is_lambda_error(result)
        assert result["errorType"] == "ValueError"
        assert result["errorMessage"] == "boom from handler"
        assert result["requestId"]
        assert any("raise ValueError" in frame for frame in result["stackTrace"])
        assert "[ERROR] ValueError: boom from handler" in fn.logs()

        with pytest.raises(LambdaInvokeError) as excinfo:
            fn.invoke({"action": "raise"}, check=True)
        assert excinfo.value.status == 200

        marshal = fn.invoke({"action": "unserialisable"})
        assert marshal["errorType"] == "Runtime.MarshalError"

        # The process survives handler exceptions: the next invoke is still warm.
        assert fn.invoke({}, check=True)["invocations_in_process"] == 4


def test_import_error_is_reported(task_root: Path) -> None:
    (task_root / "broken.py").write_text("import module_that_does_not_exist\n")
    with running_lambda("broken.handler", cwd=task_root) as fn:
        result = fn.invoke({})
    assert result["errorType"] == "Runtime.ImportModuleError"
    assert "module_that_does_not_exist" in result["errorMessage"]


def test_timeout_raises_and_next_invoke_is_cold(task_root: Path) -> None:
    with running_lambda(
        "echo_handler.handler", env={"AWS_LAMBDA_FUNCTION_TIMEOUT": "1"}, cwd=task_root
    ) as fn:
        warm = fn.invoke({}, check=True)
        with pytest.raises(LambdaInvokeError, match=r"Task timed out after 1\.00 seconds"):
            fn.invoke({"action": "sleep", "seconds": 5})
        after = fn.invoke({}, check=True)
    assert not _alive(warm["pid"])  # RIE killed the timed-out runtime
    assert after["pid"] != warm["pid"]
    assert after["invocations_in_process"] == 1


def test_no_process_outlives_the_context_even_mid_invoke(task_root: Path) -> None:
    with running_lambda("echo_handler.handler", cwd=task_root) as fn:
        runtime_pid = fn.invoke({}, check=True)["pid"]
        rie_pid = fn.process.pid
        # Leave an invocation hanging in the handler while the context exits.
        errors: list[BaseException] = []

        def invoke_forever() -> None:
            try:
                fn.invoke({"action": "sleep", "seconds": 60})
            except BaseException as exc:  # the connection is cut when RIE dies
                errors.append(exc)

        hung = threading.Thread(target=invoke_forever, daemon=True)
        hung.start()
        fn.wait_for_log("sleeping", timeout=5)
        assert _alive(rie_pid)
        assert _alive(runtime_pid)
    hung.join(timeout=5)
    assert not hung.is_alive()
    assert errors, "the hung invoke should have failed when the runtime was stopped"
    assert not _exists(rie_pid)  # exited and reaped
    assert not _alive(runtime_pid)
    assert not _exists(runtime_pid), "runtime left as a zombie: nobody reaped it"
    assert "START RequestId" in fn.logs()  # logs stay readable after exit
    with pytest.raises(ProcessLookupError):
        os.kill(rie_pid, 0)


def test_concurrent_invokes_are_serialised(task_root: Path) -> None:
    """Overlapping invokes crash this RIE; the harness must queue them instead."""
    results: list[object] = []
    with running_lambda("echo_handler.handler", cwd=task_root) as fn:

        def invoke_some(worker: int) -> None:
            for i in range(3):
                try:
                    results.append(fn.invoke({"worker": worker, "i": i}, check=True))
                except BaseException as exc:
                    results.append(exc)

        threads = [threading.Thread(target=invoke_some, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert fn.process.poll() is None, fn.logs()
    assert not [r for r in results if isinstance(r, BaseException)]
    assert len({r["aws_request_id"] for r in results}) == 12  # type: ignore[index]
    assert sorted((r["event"]["worker"], r["event"]["i"]) for r in results) == [  # type: ignore[index]
        (w, i) for w in range(4) for i in range(3)
    ]


def test_runtime_orphaned_by_an_emulator_crash_is_killed(task_root: Path) -> None:
    with running_lambda("echo_handler.handler", cwd=task_root) as fn:
        runtime_pid = fn.invoke({}, check=True)["pid"]

        def invoke_forever() -> None:
            with contextlib.suppress(OSError):  # cut when RIE dies
                fn.invoke_raw(b'{"action": "sleep", "seconds": 60}')

        hung = threading.Thread(target=invoke_forever, daemon=True)
        hung.start()
        fn.wait_for_log("sleeping", timeout=5)
        os.kill(fn.process.pid, signal.SIGKILL)  # RIE dies, the runtime keeps sleeping
        fn.process.wait()
        assert _alive(runtime_pid)
        with pytest.raises(RuntimeError, match="not running"):
            fn.invoke({})
    assert not _alive(runtime_pid)
