"""The store backends under test, built the way the app builds them."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.store import UserStore, open_store
from app.store.sqlite import SqliteUserStore

# Backends on a DynamoDB table: the project's client, and boto3's behind the same seam.
DYNAMODB_BACKENDS = ("dynamodb", "dynamodb-boto3")
# DynamoDB Local is a Java process: the tests that use it are in the slow tier (tests/tiers.py).
BACKENDS = (
    "sqlite",
    *(pytest.param(backend, marks=pytest.mark.slow) for backend in DYNAMODB_BACKENDS),
)


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
    if backend == "dynamodb-boto3":
        return boto3_store(table)
    raise ValueError(backend)


def boto3_store(table: DynamoTable | None) -> UserStore:
    """The DynamoDB store with boto3's client behind its seam (tests/boto3_seam.py)."""
    import boto3
    from botocore.config import Config

    from app.store.dynamodb import DynamoUserStore
    from tests.boto3_seam import Boto3DynamoDB

    if table is None:
        raise ValueError("the dynamodb backend needs a table")
    config = Config(retries={"mode": "standard", "total_max_attempts": 3})
    client = boto3.session.Session().client(
        "dynamodb", endpoint_url=table.endpoint_url, config=config
    )
    return DynamoUserStore(table.name, client=Boto3DynamoDB(client))


def app_config(backend: str, workdir: Path, table: DynamoTable | None = None) -> dict[str, Any]:
    """create_app() overrides that select this backend."""
    if backend == "sqlite":
        return {"USERS_DB": str(workdir / "users.sqlite3")}
    if backend in DYNAMODB_BACKENDS:  # an app always uses its own client
        if table is None:
            raise ValueError("the dynamodb backend needs a table")
        return {
            "USERS_TABLE": table.name,
            "DYNAMODB_ENDPOINT_URL": table.endpoint_url,
            # Where the app would fall back to SQLite by mistake, the file would show up.
            "USERS_DB": str(workdir / "must-not-exist.sqlite3"),
        }
    raise ValueError(backend)
