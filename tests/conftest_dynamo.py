"""Fixtures for DynamoDB-backed tests: servers on 127.0.0.1 and a fresh table per test.

A plugin module rather than tests/conftest.py; test modules opt in with
``pytest_plugins = ["tests.conftest_dynamo"]``. The servers start only when a test
asks for them, so SQLite-only runs never pay for node or moto.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests import dynamo_server
from tests.stores import DynamoTable


@pytest.fixture(scope="session")
def aws_env() -> Iterator[None]:
    """Dummy credentials and region for boto3 (no AWS access exists or is wanted).

    Session-wide and inherited by forked workers; the values reach no real service.
    """
    saved = {name: os.environ.get(name) for name in dynamo_server.DUMMY_AWS_ENV}
    os.environ.update(dynamo_server.DUMMY_AWS_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def dynalite_server(aws_env: None) -> Iterator[dynamo_server.Server]:
    with dynamo_server.dynalite() as server:
        yield server


# Module scope: its threads must be gone before the race tests fork (a fork of a
# multi-threaded process can deadlock the child on a lock some thread was holding).
@pytest.fixture(scope="module")
def moto_dynamodb(aws_env: None) -> Iterator[dynamo_server.Server]:
    # moto's werkzeug logs every request to stderr; the tests read its state, not its logs.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with dynamo_server.moto_server() as server:
        yield server


@pytest.fixture(scope="session")
def dynalite_client(dynalite_server: dynamo_server.Server) -> Any:
    return dynamo_server.dynamodb_client(dynalite_server.endpoint_url)


@pytest.fixture
def dynamo_table(dynalite_server: dynamo_server.Server, dynalite_client: Any) -> DynamoTable:
    """A table of its own for each test, keyed as serverless.yml declares."""
    return DynamoTable(dynalite_server.endpoint_url, dynamo_server.create_table(dynalite_client))
