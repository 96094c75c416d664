"""The store contract, on every backend, against real storage: a real SQLite file, and
Amazon's DynamoDB Local (which locks per item) over HTTP on 127.0.0.1."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from werkzeug.security import check_password_hash

from app import create_app
from app.store import UsernameTaken, UserRecord, UserStore
from tests.stores import BACKENDS, DynamoTable, app_config, open_backend

pytest_plugins = ["tests.conftest_dynamo"]

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def table(backend: str, request: pytest.FixtureRequest) -> DynamoTable | None:
    # Only DynamoDB runs start the server; a fresh table per test keeps tests independent.
    return request.getfixturevalue("dynamo_table") if backend == "dynamodb" else None


@pytest.fixture
def store(backend: str, tmp_path: Path, table: DynamoTable | None) -> UserStore:
    return open_backend(backend, tmp_path, table)


def test_unknown_user_is_none(store: UserStore) -> None:
    assert store.get_user("nobody") is None


def test_account_then_lookup(store: UserStore) -> None:
    store.create_account("sam", None, "john")
    assert store.get_user("sam") == UserRecord("sam", "john", None)


def test_second_sign_up_is_refused_and_changes_nothing(store: UserStore) -> None:
    store.create_account("sam", "hash-1", "john")
    with pytest.raises(UsernameTaken):
        store.create_account("sam", "hash-2", "jane")
    assert store.get_user("sam") == UserRecord("sam", "john", None)


def test_details_are_an_upsert(store: UserStore) -> None:
    store.put_details("sam", "john", "king")
    store.put_details("sam", None, "queen")  # no firstname given: keep the old one
    assert store.get_user("sam") == UserRecord("sam", "john", "queen")
    store.put_details("sam", "jack", "queen")
    assert store.get_user("sam") == UserRecord("sam", "jack", "queen")


def test_details_before_sign_up_still_allow_one_sign_up(store: UserStore) -> None:
    store.put_details("sam", "john", "king")
    store.create_account("sam", None, "johnny")
    with pytest.raises(UsernameTaken):
        store.create_account("sam", None, None)
    assert store.get_user("sam") == UserRecord("sam", "john", "king")


def sign_up_at_once(config: dict[str, Any], barrier, results) -> None:
    app = create_app(config)
    client = app.test_client()
    barrier.wait()
    response = client.post("/userSignUp", data="username=racer&firstname=r", headers=FORM)
    results.put((response.status_code, response.get_data(as_text=True)))


@pytest.mark.slow
def test_sixteen_processes_race_for_one_username(
    backend: str, tmp_path: Path, table: DynamoTable | None
) -> None:
    """Exactly one winner; the rest get a clean 409, never 'database is locked' or 500."""
    processes = 16
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(processes)
    results = context.Queue()
    # A fresh store: for SQLite, schema creation races too; each worker builds its own
    # app and DynamoDB client after the fork, as separate Lambda containers would.
    config = app_config(backend, tmp_path, table)
    workers = [
        context.Process(target=sign_up_at_once, args=(config, barrier, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    statuses = sorted(status for status, _ in outcomes)
    assert statuses == [200] + [409] * 15, outcomes


def test_password_is_stored_only_as_a_scrypt_hash(tmp_path: Path) -> None:
    db = tmp_path / "users.sqlite3"
    client = create_app({"USERS_DB": str(db)}).test_client()
    password = "correct-horse-battery-staple"
    response = client.post("/userSignUp", data=f"username=sam&password={password}", headers=FORM)
    assert response.status_code == 200
    (stored,) = sqlite3.connect(db).execute("SELECT password_hash FROM accounts").fetchone()
    assert stored.startswith("scrypt:")
    assert check_password_hash(stored, password)
    for file in tmp_path.iterdir():  # the database, its WAL and shared-memory files
        assert password.encode() not in file.read_bytes(), file


def test_a_locked_database_is_a_503_and_nothing_is_written(tmp_path: Path) -> None:
    db = tmp_path / "users.sqlite3"
    client = create_app({"USERS_DB": str(db), "DB_BUSY_TIMEOUT_MS": 100}).test_client()
    assert (
        client.post("/userDetails", data="username=a&lastname=b", headers=FORM).status_code == 201
    )
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock past our timeout
    try:
        response = client.post("/userSignUp", data="username=sam", headers=FORM)
    finally:
        holder.execute("ROLLBACK")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.json["detail"].startswith("The user store is temporarily unavailable")
    assert client.get("/userDetails?username=sam").status_code == 404
    assert client.post("/userSignUp", data="username=sam", headers=FORM).status_code == 200
