"""Fixtures for DynamoDB-backed tests: servers on 127.0.0.1 and a fresh table per test.

A plugin module rather than tests/conftest.py; test modules opt in with
``pytest_plugins = ["tests.conftest_dynamo"]``. The servers start only when a test
asks for them, so SQLite-only runs never pay for Java.
"""

from __future__ import annotations

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
def dynamodb_server(aws_env: None) -> Iterator[dynamo_server.Server]:
    """Amazon's DynamoDB Local, in memory, for the whole session."""
    with dynamo_server.dynamodb_local() as server:
        yield server


@pytest.fixture(scope="session")
def dynamodb_admin(dynamodb_server: dynamo_server.Server) -> Any:
    """A boto3 client for the tests' own setup and inspection (not the app's)."""
    return dynamo_server.dynamodb_client(dynamodb_server.endpoint_url)


@pytest.fixture
def dynamo_table(dynamodb_server: dynamo_server.Server, dynamodb_admin: Any) -> DynamoTable:
    """A table of its own for each test, keyed as serverless.yml declares."""
    return DynamoTable(dynamodb_server.endpoint_url, dynamo_server.create_table(dynamodb_admin))
