"""app/request_log.py's hold on other libraries' loggers, whatever the level asked for.

Under the real runtime, at every level serverless.yml accepts: tests/test_lambda_logs.py. Here,
in-process, the two guards one at a time, with a logger no dependency of ours has.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from app import request_log


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def root_at_debug() -> Iterator[Collect]:
    """The root logger as the runtime leaves it at logLevel=DEBUG: its handler, its level."""
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in request_log.OWN_LOGGERS}
    handler = Collect()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in request_log.OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)


def test_other_loggers_stay_at_warning_and_the_apps_keep_the_level(root_at_debug: Collect) -> None:
    request_log.hold_third_party_loggers()
    quiet = logging.getLogger("some_dependency.wire")  # no level of its own
    loud = logging.getLogger("other_dependency")
    loud.setLevel(logging.DEBUG)  # a level of its own: the handler's filter drops it
    quiet.debug("wire bytes")
    quiet.info("connected")
    loud.debug("signed headers")
    quiet.warning("retrying")
    logging.getLogger("app.store").debug("own debug")
    got = [(r.name, r.getMessage()) for r in root_at_debug.records]
    assert got == [
        ("some_dependency.wire", "retrying"),
        ("app.store", "own debug"),
    ]
    loud.setLevel(logging.NOTSET)


def test_without_the_hold_a_dependency_would_log_at_debug(root_at_debug: Collect) -> None:
    # The fixture's root logger really passes DEBUG records: what the hold changes.
    logging.getLogger("some_dependency.wire").debug("wire bytes")
    assert [r.getMessage() for r in root_at_debug.records] == ["wire bytes"]
