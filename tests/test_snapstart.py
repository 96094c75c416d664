"""app/snapstart.py: the SnapStart hooks, run the way the runtime runs them.

snapshot_restore_py (AWS's package, pinned in requirements-dev.txt) is the registry the
Lambda runtime reads: it calls every ``get_before_snapshot()`` entry before the
snapshot and every ``get_after_restore()`` entry after a restore. The tests call them
the same way, against a real local DynamoDB server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import snapshot_restore_py
from flask import Flask

import handler as lambda_handler  # imported now: its own hooks register before the tests
from app import create_app, metrics, snapstart
from app.store.sigv4 import signing_key
from tests import dynamo_server
from tests.emf import counted, emf_lines
from tests.stores import DynamoTable, app_config

pytest_plugins = ["tests.conftest_dynamo"]


@pytest.fixture
def hooks() -> Iterator[tuple[list[Any], list[Any]]]:
    """The runtime's registries, emptied for the test and restored after it."""
    before, after = (
        snapshot_restore_py.get_before_snapshot(),
        snapshot_restore_py.get_after_restore(),
    )
    saved = before[:], after[:]
    before.clear()
    after.clear()
    try:
        yield before, after
    finally:
        before[:], after[:] = saved


def run(registry: list[Any]) -> None:
    for func, args, kwargs in registry:
        func(*args, **kwargs)


def dynamo_app(table: DynamoTable, tmp_path: Path) -> Flask:
    return create_app(app_config("dynamodb", tmp_path, table))


class Calls:
    """A handler that serves through the app's test client and records each event."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.events: list[dict[str, Any]] = []
        self.statuses: list[int] = []

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        self.events.append(event)
        original = lambda_handler.app
        lambda_handler.app = self.app
        try:
            result = lambda_handler.handler(event, context)
        finally:
            lambda_handler.app = original
        self.statuses.append(result["statusCode"])
        return result


def test_without_the_runtime_module_nothing_is_registered(
    hooks: tuple[list[Any], list[Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import raises ImportError
    app = create_app(app_config("sqlite", tmp_path))
    assert snapstart.register_hooks(app, Calls(app)) is False
    assert hooks == ([], [])


def test_before_snapshot_primes_with_one_read_through_the_handler(
    hooks: tuple[list[Any], list[Any]], dynamo_table: DynamoTable, tmp_path: Path
) -> None:
    app = dynamo_app(dynamo_table, tmp_path)
    handler = Calls(app)
    assert snapstart.register_hooks(app, handler) is True
    assert len(hooks[0]) == 1 and len(hooks[1]) == 1
    run(hooks[0])
    assert len(handler.events) == 1
    assert handler.statuses == [404]  # it reached the store: no such user
    client = dynamo_server.dynamodb_client(dynamo_table.endpoint_url)
    assert dynamo_server.scan_all(client, dynamo_table.name) == []  # nothing written


def test_priming_never_fails_the_snapshot(hooks: tuple[list[Any], list[Any]]) -> None:
    def broken(event: Any, context: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    snapstart.prime(broken)  # logs, does not raise


def test_after_restore_rebuilds_the_client_with_the_same_settings(
    hooks: tuple[list[Any], list[Any]], dynamo_table: DynamoTable, tmp_path: Path
) -> None:
    app = dynamo_app(dynamo_table, tmp_path)
    handler = Calls(app)
    snapstart.register_hooks(app, handler)
    run(hooks[0])
    store = app.extensions["user_store"]
    old = store.client
    run(hooks[1])
    new = store.client
    assert new is not old
    assert new.endpoint_url == old.endpoint_url == dynamo_table.endpoint_url
    assert (new.connect_timeout, new.read_timeout) == (old.connect_timeout, old.read_timeout)
    assert new.max_attempts == old.max_attempts
    assert old._idle == []  # the snapshotted process's connection is closed
    assert signing_key.cache_info().currsize == 0  # keys derived from its credentials too
    # The restored copy serves requests with its own client.
    with app.test_client() as client:
        response = client.post(
            "/userDetails", data={"username": "sam", "firstname": "john", "lastname": "king"}
        )
        assert response.status_code == 201
        assert client.get("/userDetails?username=sam").json["lastname"] == "king"


def test_after_restore_on_sqlite_only_reseeds(
    hooks: tuple[list[Any], list[Any]], tmp_path: Path
) -> None:
    import random

    app = create_app(app_config("sqlite", tmp_path))
    store = app.extensions["user_store"]
    snapstart.register_hooks(app, Calls(app))
    random.seed(1234)
    snapshot_state = random.getstate()
    run(hooks[1])
    assert random.getstate() != snapshot_state
    assert app.extensions["user_store"] is store


def test_each_restored_copy_counts_its_first_request_as_a_cold_start(
    hooks: tuple[list[Any], list[Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(app_config("sqlite", tmp_path))
    calls = Calls(app)
    snapstart.register_hooks(app, calls)
    run(hooks[0])  # the priming request, before the snapshot
    capsys.readouterr()
    run(hooks[1])  # a restored copy
    for _ in range(2):
        calls(snapstart.PRIME_EVENT, None)
    lines = emf_lines(capsys.readouterr().out)
    assert [counted(line).get(metrics.COLD_STARTS) for line in lines] == [1, None]


RESTORED_COPY = """
import json, random, sys
from app import create_app, snapstart
from app.store.sigv4 import signing_key
app = create_app({"USERS_DB": sys.argv[2]})
random.seed(1234)  # the state every copy inherits from the snapshot
if sys.argv[1] == "refresh":
    snapstart.refresh(app)
print(json.dumps([random.random() for _ in range(3)]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("refresh", [True, False])
def test_restored_copies_draw_different_random_numbers_only_after_refresh(
    refresh: bool, tmp_path: Path
) -> None:
    def copy() -> list[float]:
        command = [sys.executable, "-c", RESTORED_COPY, "refresh" if refresh else "none"]
        command.append(str(tmp_path / "users.sqlite3"))
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        return json.loads(out.stdout)

    assert (copy() != copy()) is refresh


# ---------------------------------------------------------------- serverless.yml


@pytest.mark.slow
def test_snapstart_param_publishes_a_version_behind_an_alias_every_event_uses() -> None:
    from tests.packaging import packaged

    default = packaged()
    function = default.resources("AWS::Lambda::Function")["ApiLambdaFunction"]
    assert "SnapStart" not in function["Properties"]
    assert default.resources("AWS::Lambda::Alias") == {}

    # Every front door on, so each one is checked to invoke the alias.
    snap = packaged("snapStart=true", "restApi=true", "functionUrl=iam")
    function = snap.resources("AWS::Lambda::Function")["ApiLambdaFunction"]
    assert function["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    aliases = snap.resources("AWS::Lambda::Alias")
    assert [alias["Properties"]["Name"] for alias in aliases.values()] == ["snapstart"]
    (alias_id,) = aliases
    for type_ in ("AWS::Lambda::Url", "AWS::ApiGatewayV2::Integration", "AWS::ApiGateway::Method"):
        resources = snap.resources(type_)
        assert resources, type_
        for name, resource in resources.items():
            assert alias_id in json.dumps(resource), name
