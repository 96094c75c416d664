"""Run the API under serverless-offline (what `make run` serves) for tests.

    with start_offline() as base_url:          # e.g. "http://127.0.0.1:41234"
        urllib.request.urlopen(base_url + "/userDetails?username=sam")

It starts ``scripts/sls offline start`` (the repo's osls, the runtime's venv active, dummy AWS
credentials) in a new session on a free 127.0.0.1 port, polls until the port accepts connections,
yields the base URL, and on exit stops it with SIGINT (as Ctrl-C would), escalating to SIGKILL,
then makes sure no process of that session is left (osls, the /bin/sh and python3 worker):
tests/processes.py, as for every test server.

Unless USERS_DB or USERS_TABLE is set (in ``env`` or the environment), the app gets a fresh SQLite
file in a temporary directory, so runs never touch the developer's database. serverless-offline
serves one API flavour at a time (``events``): "httpApi" (payload v2, the default) or "http"
(REST, payload v1); see serverless_plugins/local-emulation.js.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests import processes
from tests.net import ServerExited, free_port, like_a_terminal, wait_for_port
from tests.packaging import osls_lock
from tests.processes import session_pids

ROOT = Path(__file__).resolve().parent.parent
SLS = ROOT / "scripts" / "sls"
HOST = "127.0.0.1"
EVENT_FLAVOURS = ("httpApi", "http")

__all__ = ["OfflineError", "session_pids", "start_offline", "wait_until_listening"]


class OfflineError(RuntimeError):
    """serverless-offline did not start."""


def ensure_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise OfflineError(f"{HOST}:{port} is already in use: {error}") from None


def wait_until_listening(process: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    try:
        wait_for_port(port, process, timeout)
    except (ServerExited, TimeoutError) as error:
        raise OfflineError(f"serverless-offline did not start: {error}") from None


@contextlib.contextmanager
def start_offline(
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    *,
    events: str = "httpApi",
    lambda_port: int | None = None,
    startup_timeout: float = 60.0,
    stop_grace: float = 15.0,
) -> Iterator[str]:
    """Serve handler.py through serverless-offline; yield its base URL, e.g. http://127.0.0.1:5000."""
    if events not in EVENT_FLAVOURS:
        raise ValueError(f"events must be one of {EVENT_FLAVOURS}, got {events!r}")
    http_port = port or free_port()
    ensure_free(http_port)
    lambda_port = lambda_port or free_port()
    while lambda_port == http_port:
        lambda_port = free_port()
    with tempfile.TemporaryDirectory(prefix="offline-") as workdir:
        child_env = {**os.environ, **(env or {})}
        if not child_env.get("USERS_DB") and not child_env.get("USERS_TABLE"):
            child_env["USERS_DB"] = str(Path(workdir) / "users.sqlite3")
        command = [
            str(SLS),
            "offline",
            "start",
            "--host",
            HOST,
            "--httpPort",
            str(http_port),
            "--lambdaPort",
            str(lambda_port),
            f"--param=offlineEvents={events}",
        ]
        with contextlib.ExitStack() as stack:
            with osls_lock():  # until it listens (tests/packaging.py)
                try:
                    stack.enter_context(
                        processes.server(
                            command,
                            port=http_port,
                            cwd=ROOT,
                            env=child_env,
                            log=Path(workdir) / "offline.log",
                            stop_signal=signal.SIGINT,  # as Ctrl-C would
                            grace=stop_grace,
                            startup_timeout=startup_timeout,
                            preexec_fn=like_a_terminal,
                        )
                    )
                except (ServerExited, TimeoutError) as error:
                    raise OfflineError(f"serverless-offline did not start: {error}") from None
            yield f"http://{HOST}:{http_port}"
