"""Evidence saved when a test fails, while the failed test's state still exists.

A fixture registers a callback (``request.node.stash.setdefault(ON_FAILURE, []).append(save)``);
the report hook in conftest.py runs each one when the test's call phase fails, before any
fixture is torn down, and prints what it returns (a path) under the failure. A plain module,
not conftest.py, so that the key is one object however pytest imports conftest.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

ON_FAILURE = pytest.StashKey[list[Callable[[], str]]]()


def save_evidence(item: pytest.Item, report: pytest.TestReport) -> None:
    if report.when != "call" or not report.failed:
        return
    for save in item.stash.get(ON_FAILURE, []):
        try:
            saved = save()
        except Exception as error:  # the evidence is a bonus; never mask the failure
            saved = f"could not save it: {error!r}"
        report.sections.append(("saved on failure", saved))
