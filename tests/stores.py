"""The store backends under test, built the way the app builds them."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.store import UserStore, open_store
from app.store.sqlite import SqliteUserStore

# DynamoDB Local is a Java process: the tests that use it are in the slow tier (tests/tiers.py).
BACKENDS = ("sqlite", pytest.param("dynamodb", marks=pytest.mark.slow))


def basic_auth(username: str, password: str) -> dict[str, str]:
    """The Authorization header `curl -u username:password` sends."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass(frozen=True)
class DynamoTable:
    """A fresh table on a local DynamoDB-compatible server (tests/conftest_dynamo.py)."""

    endpoint_url: str
    name: str


def open_backend(backend: str, workdir: Path, table: DynamoTable | None = None) -> UserStore:
    if backend == "sqlite":
        return SqliteUserStore(str(workdir / "users.sqlite3"))
    if backend == "dynamodb":
        # Through open_store, so the test covers the app's own selection and client settings.
        return open_store(app_config(backend, workdir, table))
    raise ValueError(backend)


def app_config(backend: str, workdir: Path, table: DynamoTable | None = None) -> dict[str, Any]:
    """create_app() overrides that select this backend."""
    if backend == "sqlite":
        return {"USERS_DB": str(workdir / "users.sqlite3")}
    if backend == "dynamodb":
        if table is None:
            raise ValueError("the dynamodb backend needs a table")
        return {
            "USERS_TABLE": table.name,
            "DYNAMODB_ENDPOINT_URL": table.endpoint_url,
            # Where the app would fall back to SQLite by mistake, the file would show up.
            "USERS_DB": str(workdir / "must-not-exist.sqlite3"),
        }
    raise ValueError(backend)
