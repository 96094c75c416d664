"""The two test tiers, decided by what a test uses rather than by hand.

``make check`` runs the tests that start no process (``-m "not slow"``); ``make test`` runs
all. A test is ``slow`` when its fixtures include one that starts a server
(:data:`PROCESS_FIXTURES`, found through the fixture closure at collection), or when it
carries the marker itself (a parameter such as the DynamoDB backend, or a test that runs a
command). The marker cannot lie: while a test that is not ``slow`` runs, every way of
starting a process (fork, posix_spawn, subprocess, multiprocessing) raises
:class:`ProcessInFastTier`, in both tiers.
"""

from __future__ import annotations

import _posixsubprocess
import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# Fixtures that start a process (directly or through the fixtures they use: the closure
# pytest computes includes those).
PROCESS_FIXTURES = frozenset(
    {
        "dynamodb_server",  # Amazon's DynamoDB Local (Java)
        "dev_server_url",  # Flask's dev server
        "offline",  # serverless-offline (Node)
        "offline_url",
        "lambda_runtime",  # the Lambda runtime interface emulator
        "moto_endpoint",  # moto's server
        "package",  # osls package (Node)
        "alb_package",
        "api",  # a browser test's API server
        "browser",  # Chromium
    }
)


class ProcessInFastTier(RuntimeError):
    """A test that is not marked ``slow`` tried to start a process."""


def mark_process_tests(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every collected test whose fixtures start a process."""
    for item in items:
        if PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def _refuse(name: str, test: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ProcessInFastTier(
            f"{test} starts a process ({name}) but is not marked slow: mark it "
            "@pytest.mark.slow, or start the process through a fixture in tests/tiers.py"
        )

    return refuse


@contextlib.contextmanager
def processes_refused(test: str) -> Iterator[None]:
    """Every process-starting primitive raises until the block ends."""
    targets: list[tuple[Any, str]] = [
        (os, "fork"),
        (os, "forkpty"),
        (os, "posix_spawn"),
        (os, "posix_spawnp"),
        (os, "system"),
        (_posixsubprocess, "fork_exec"),  # multiprocessing's spawn and forkserver
        (subprocess, "_fork_exec"),  # subprocess.Popen
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name in targets if hasattr(owner, name)]
    for owner, name, _ in saved:
        setattr(owner, name, _refuse(f"{owner.__name__}.{name}", test))
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def run_guarded(item: pytest.Item) -> contextlib.AbstractContextManager[None]:
    """The guard for one test's setup, call and teardown."""
    if item.get_closest_marker("slow"):
        return contextlib.nullcontext()
    return processes_refused(item.nodeid)
