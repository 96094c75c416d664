"""Starting and stopping every test server (serverless-offline, the Lambda RIE, DynamoDB
Local, the Flask dev server): one place for the process bookkeeping.

A server starts in a session of its own, carrying a marker variable in its environment,
and is ready once its port accepts connections. Stopping it sends ``stop_signal`` to its
process group (SIGINT is what Ctrl-C sends, SIGTERM what ``kill`` sends), waits ``grace``
seconds, then SIGKILLs every process of the family that is still alive: its session, its
descendants, and anything carrying the marker (a runtime that RIE put in a group of its
own, orphaned when RIE died). A pid is only signalled while its start time still matches,
so a recycled pid is never hit. It returns once they are all gone (zombies count as gone)
and raises :class:`ServerStopError` if any survive SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from tests.net import ServerExited, wait_for_port

MARKER_VARIABLE = "TEST_SERVER_ID"


def without_coverage(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for a fresh interpreter whose imports a test inspects: without coverage.py's
    subprocess measurement (make test), which imports modules of its own."""
    return {k: v for k, v in env.items() if not k.startswith("COVERAGE_")}


class ServerStopError(RuntimeError):
    """Processes of a test server survived SIGKILL."""


def process_table() -> dict[int, tuple[int, int, int]]:
    """(ppid, session id, start time) of every live, non-zombie process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp session ... starttime (20th)
        fields = raw[raw.rindex(")") + 2 :].split()
        if fields[0] not in ("Z", "X"):
            table[int(entry.name)] = (int(fields[1]), int(fields[3]), int(fields[19]))
    return table


def session_pids(sid: int) -> list[int]:
    """Live processes in session ``sid``."""
    return [pid for pid, (_, session, _) in process_table().items() if session == sid]


def carries_marker(pid: int, marker: str) -> bool:
    needle = f"{MARKER_VARIABLE}={marker}".encode()
    try:
        return needle in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def family(root: int, marker: str | None) -> dict[int, int]:
    """pid -> start time of the live processes of one server: the session ``root`` leads,
    the tree under ``root``, and every process carrying ``marker``."""
    table = process_table()
    todo = [pid for pid, (_, sid, _) in table.items() if sid == root or pid == root]
    if marker:
        todo += [pid for pid in table if carries_marker(pid, marker)]
    found: dict[int, int] = {}
    while todo:
        pid = todo.pop()
        if pid in table and pid not in found:
            found[pid] = table[pid][2]
            todo.extend(child for child, (ppid, _, _) in table.items() if ppid == pid)
    return found


def stop(
    process: subprocess.Popen[bytes],
    marker: str | None = None,
    *,
    stop_signal: signal.Signals = signal.SIGTERM,
    grace: float = 10.0,
) -> None:
    """Stop a server started in its own session, and everything it started."""
    members = family(process.pid, marker)
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, stop_signal)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    members |= family(process.pid, marker)

    def survivors() -> list[int]:
        table = process_table()
        return [pid for pid, started in members.items() if table.get(pid, (0, 0, -1))[2] == started]

    for pid in survivors():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait()
    # SIGKILL is asynchronous and orphans are not our children (no waitpid): poll until gone.
    deadline = time.monotonic() + 5
    while (left := survivors()) and time.monotonic() < deadline:
        time.sleep(0.01)
    if left:
        raise ServerStopError(f"processes survived SIGKILL: {left}")


@contextlib.contextmanager
def server(
    command: Sequence[str],
    *,
    port: int,
    cwd: Path,
    env: Mapping[str, str],
    log: Path | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
    grace: float = 10.0,
    startup_timeout: float = 30.0,
    preexec_fn: Callable[[], None] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` until the block ends; yield the process once ``port`` listens.

    Output goes to ``log`` (or nowhere). Raises :class:`tests.net.ServerExited` (with the
    end of the log) if the server exits before listening, TimeoutError if it never listens;
    either way it is stopped first.
    """
    marker = uuid.uuid4().hex
    output = log.open("wb") if log else subprocess.DEVNULL
    try:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env={**env, MARKER_VARIABLE: marker},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own session and group: signalled and found as a whole
            preexec_fn=preexec_fn,
        )
    finally:
        if log:
            output.close()  # type: ignore[union-attr]
    try:
        try:
            wait_for_port(port, process, startup_timeout)
        except ServerExited as error:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise ServerExited(f"{error}\n{tail}") from None
        yield process
    finally:
        stop(process, marker, stop_signal=stop_signal, grace=grace)
