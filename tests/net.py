"""Loopback helpers shared by every test server: a free port, and waiting for a listener."""

from __future__ import annotations

import signal
import socket
import subprocess
import time

HOST = "127.0.0.1"


def free_port() -> int:
    """A port free on 127.0.0.1 right now (another process may still take it first)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ServerExited(RuntimeError):
    """The server process ended before it listened."""


def wait_for_port(port: int, process: subprocess.Popen | None, timeout: float = 30.0) -> None:
    """Return once something accepts connections on ``port``; raise ServerExited if
    ``process`` dies first, TimeoutError if nothing listens within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerExited(f"server exited with status {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listened on {HOST}:{port} within {timeout}s")


def like_a_terminal() -> None:
    """preexec_fn: default SIGINT handling in the child, as in a terminal's foreground job.

    A command started in the background by a non-interactive shell (as CI may run the
    suite) inherits SIGINT *ignored*; bash then cannot trap it and Python installs no
    KeyboardInterrupt handler, so a test of Ctrl-C would test something no user does.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
