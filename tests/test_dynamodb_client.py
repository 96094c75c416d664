"""app/store/dynamodb_client.py against real servers: Amazon's DynamoDB Local over HTTP and
HTTPS (tests/tls_front.py), a credentials endpoint, and local servers that misbehave on
purpose (tests/dynamo_server.py): every error class, retries included, nothing half-written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from app.store import ConfigurationError
from app.store.dynamodb_client import (
    CREDENTIALS_REFRESH_S,
    ConditionalCheckFailed,
    DynamoDBClient,
    DynamoDBError,
    DynamoDBRefused,
    DynamoDBUnavailable,
    endpoint,
    remaining_time,
)
from tests import dynamo_server
from tests.dynamo_server import Answer
from tests.stores import DynamoTable
from tests.tls_front import LocalCA, make_test_ca, tls_front

pytest_plugins = ["tests.conftest_dynamo"]

SETTINGS: dict[str, Any] = {"connect_timeout": 1.0, "read_timeout": 3.0, "max_attempts": 3}
KEY = {"pk": {"S": "USER#sam"}, "sk": {"S": "PROFILE"}}


def client_for(url: str, **overrides: Any) -> DynamoDBClient:
    return DynamoDBClient(endpoint_url=url, **{**SETTINGS, **overrides})


def put(client: DynamoDBClient, table: str, lastname: str = "king") -> dict[str, Any]:
    return client.call(
        "UpdateItem",
        {
            "TableName": table,
            "Key": KEY,
            "UpdateExpression": "SET lastname = :l",
            "ExpressionAttributeValues": {":l": {"S": lastname}},
        },
    )


def stored(table: DynamoTable) -> list[dict[str, Any]]:
    admin = dynamo_server.dynamodb_client(table.endpoint_url)
    return dynamo_server.scan_all(admin, table.name)


def read_back(client: DynamoDBClient, table: str) -> dict[str, Any] | None:
    answer = client.call("GetItem", {"TableName": table, "Key": KEY, "ConsistentRead": True})
    return answer.get("Item")


# ---------------------------------------------------------------- the function's imports


@pytest.mark.slow  # a fresh interpreter
def test_the_function_on_dynamodb_imports_neither_boto3_nor_botocore(aws_env: None) -> None:
    code = (
        "import sys\n"
        "from app import create_app\n"
        "app = create_app({'USERS_TABLE': 'users', 'DYNAMODB_ENDPOINT_URL': 'http://127.0.0.1:1',"
        " 'DYNAMODB_MAX_ATTEMPTS': 1})\n"
        "assert app.test_client().get('/userDetails?username=sam').status_code == 503\n"
        "loaded = [m for m in ('boto3', 'botocore', 'urllib3') if m in sys.modules]\n"
        "sys.exit(loaded or 0)"
    )
    env = {**os.environ, **dynamo_server.DUMMY_AWS_ENV}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=dynamo_server.REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- endpoint


def botocore_endpoint(region: str, fips: bool) -> str:
    config = Config(region_name=region, use_fips_endpoint=fips)
    session = boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="b")
    return str(session.client("dynamodb", config=config).meta.endpoint_url)


@pytest.mark.parametrize(
    "region",
    [
        "us-east-1",
        "eu-west-1",
        "ap-southeast-7",
        "il-central-1",
        "mx-central-1",
        "us-gov-west-1",
        "us-gov-east-1",
        "cn-north-1",
        "cn-northwest-1",
    ],
)
@pytest.mark.parametrize("fips", [False, True])
def test_regional_endpoints_are_botocores(region: str, fips: bool) -> None:
    environ = {"AWS_REGION": region, "AWS_USE_FIPS_ENDPOINT": "true" if fips else "false"}
    if fips and region.startswith("cn-"):
        with pytest.raises(ConfigurationError, match="no FIPS endpoint"):
            endpoint(None, environ)
        return
    assert endpoint(None, environ).url == botocore_endpoint(region, fips)
    assert endpoint(None, environ).region == region


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:1", "AWS_ENDPOINT_URL": "x"},
            "http://127.0.0.1:1",
        ),
        ({"AWS_ENDPOINT_URL": "https://vpce.example:8443/"}, "https://vpce.example:8443"),
        (
            {"AWS_DEFAULT_REGION": "eu-west-1"},
            "https://dynamodb.us-east-1.amazonaws.com",
        ),  # AWS_REGION wins
    ],
)
def test_configured_endpoints_come_first(environ: dict[str, str], expected: str) -> None:
    assert endpoint(None, {"AWS_REGION": "us-east-1", **environ}).url == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "no AWS region"),
        ({"AWS_REGION": "us-iso-east-1"}, "no DynamoDB endpoint known"),
        ({"AWS_REGION": "moon-1"}, "no DynamoDB endpoint known"),
        ({"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_DYNAMODB": "ftp://x"}, "not an http"),
    ],
)
def test_an_endpoint_that_cannot_be_built_is_a_clear_error(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        endpoint(None, environ)


# ---------------------------------------------------------------- credentials


def test_no_credentials_is_one_clear_error_at_init() -> None:
    with pytest.raises(ConfigurationError, match="no AWS credentials for DynamoDB"):
        DynamoDBClient(endpoint_url=None, environ={"AWS_REGION": "us-east-1"}, **SETTINGS)


class CredentialsServer:
    """A container credentials endpoint on 127.0.0.1: answers only the right token."""

    def __init__(self, token: str, credentials: dict[str, str], lifetime_s: float) -> None:
        self.token = token
        self.credentials = credentials
        self.lifetime_s = lifetime_s
        self.requests = 0


@contextmanager
def credentials_endpoint(server: CredentialsServer) -> Iterator[str]:
    import datetime

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            server.requests += 1
            if self.headers.get("Authorization") != server.token:
                self.send_response(403)
                self.end_headers()
                return
            expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
                seconds=server.lifetime_s
            )
            body = json.dumps(
                {**server.credentials, "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    http_server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=http_server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http_server.server_address[1]}/2018-06-01/credentials"
    finally:
        http_server.shutdown()
        http_server.server_close()


CONTAINER_KEYS = {"AccessKeyId": "ASIACONTAINER", "SecretAccessKey": "s3cret", "Token": "tok"}


def container_environ(url: str, token: str) -> dict[str, str]:
    return {
        "AWS_REGION": "us-east-1",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": url,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
    }


def test_container_credentials_are_fetched_once_and_cached() -> None:
    server = CredentialsServer("Bearer right", CONTAINER_KEYS, lifetime_s=6 * 3600)
    with credentials_endpoint(server) as url:
        client = DynamoDBClient(
            endpoint_url=None, environ=container_environ(url, "Bearer right"), **SETTINGS
        )
        assert server.requests == 0  # fetched on first use, not at init
        first = client.credentials.credentials()
        assert client.credentials.credentials() is first
    assert server.requests == 1
    assert (first.access_key_id, first.secret_access_key, first.session_token) == (
        "ASIACONTAINER",
        "s3cret",
        "tok",
    )


def test_container_credentials_are_refreshed_before_they_expire() -> None:
    server = CredentialsServer("t", CONTAINER_KEYS, lifetime_s=CREDENTIALS_REFRESH_S - 5)
    with credentials_endpoint(server) as url:
        client = DynamoDBClient(endpoint_url=None, environ=container_environ(url, "t"), **SETTINGS)
        client.credentials.credentials()
        client.credentials.credentials()
        assert server.requests == 2  # within the refresh window: fetched again
        server.lifetime_s = 3600
        client.credentials.credentials()
        client.credentials.credentials()
    assert server.requests == 3


def test_reset_drops_cached_credentials() -> None:
    server = CredentialsServer("t", CONTAINER_KEYS, lifetime_s=3600)
    with credentials_endpoint(server) as url:
        client = DynamoDBClient(endpoint_url=None, environ=container_environ(url, "t"), **SETTINGS)
        client.credentials.credentials()
        client.reset()  # what a SnapStart restore does
        client.credentials.credentials()
    assert server.requests == 2


def test_expired_container_credentials_are_fetched_again_once(
    aws_env: None, dynamo_table: DynamoTable
) -> None:
    server = CredentialsServer("t", CONTAINER_KEYS, lifetime_s=3600)
    script = [Answer(400, "ExpiredTokenException")] * 3
    with (
        credentials_endpoint(server) as url,
        dynamo_server.scripted_proxy(dynamo_table.endpoint_url, script[:1]) as (endpoint, seen),
    ):
        environ = container_environ(url, "t")
        put(DynamoDBClient(endpoint_url=endpoint, environ=environ, **SETTINGS), dynamo_table.name)
        assert seen.operations == ["UpdateItem", "UpdateItem"]
        assert server.requests == 2
    with (
        credentials_endpoint(server) as url,
        dynamo_server.scripted_proxy(dynamo_table.endpoint_url, script) as (endpoint, seen),
    ):
        client = DynamoDBClient(
            endpoint_url=endpoint, environ=container_environ(url, "t"), **SETTINGS
        )
        with pytest.raises(DynamoDBRefused, match="ExpiredTokenException"):
            put(client, dynamo_table.name)
        assert seen.operations == ["UpdateItem", "UpdateItem"]  # once, not in a loop
    assert stored(dynamo_table) == [{**KEY, "lastname": {"S": "king"}}]


def test_a_wrong_container_token_is_refused() -> None:
    server = CredentialsServer("right", CONTAINER_KEYS, lifetime_s=3600)
    with credentials_endpoint(server) as url:
        client = DynamoDBClient(
            endpoint_url=None, environ=container_environ(url, "wrong"), **SETTINGS
        )
        with pytest.raises(DynamoDBRefused, match="answered 403"):
            client.credentials.credentials()


@pytest.mark.parametrize(
    "url", ["http://10.1.2.3/creds", "http://example.com/creds", "file:///etc/passwd"]
)
def test_a_container_endpoint_that_could_leak_the_token_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="not HTTPS, loopback or a container host"):
        DynamoDBClient(endpoint_url=None, environ=container_environ(url, "t"), **SETTINGS)


def test_environment_keys_come_before_the_container_endpoint() -> None:
    environ = {
        **container_environ("http://127.0.0.1:1/never-asked", "t"),
        "AWS_ACCESS_KEY_ID": "AKIAENV",
        "AWS_SECRET_ACCESS_KEY": "env-secret",
        "AWS_SESSION_TOKEN": "env-token",
    }
    client = DynamoDBClient(endpoint_url=None, environ=environ, **SETTINGS)
    credentials = client.credentials.credentials()
    assert (credentials.access_key_id, credentials.session_token) == ("AKIAENV", "env-token")
    assert "env-secret" not in repr(credentials) and "env-token" not in repr(credentials)


# ---------------------------------------------------------------- a real server


def test_writes_and_reads_over_http(aws_env: None, dynamo_table: DynamoTable) -> None:
    client = client_for(dynamo_table.endpoint_url)
    assert put(client, dynamo_table.name) == {}
    assert read_back(client, dynamo_table.name) == {**KEY, "lastname": {"S": "king"}}


def test_one_connection_serves_every_call(aws_env: None, dynamo_table: DynamoTable) -> None:
    client = client_for(dynamo_table.endpoint_url)
    put(client, dynamo_table.name)
    (connection,) = client._idle
    for _ in range(3):
        read_back(client, dynamo_table.name)
    assert client._idle == [connection]


def test_a_connection_the_server_closed_while_idle_is_reopened_once(
    aws_env: None, dynamo_table: DynamoTable
) -> None:
    script = [Answer(keep_alive=True), Answer(keep_alive=True)]
    with dynamo_server.scripted_proxy(dynamo_table.endpoint_url, script) as (url, seen):
        client = client_for(url)
        put(client, dynamo_table.name, "first")
        put(client, dynamo_table.name, "second")  # on the connection the server dropped
        assert seen.operations == ["UpdateItem", "UpdateItem"]
    assert stored(dynamo_table) == [{**KEY, "lastname": {"S": "second"}}]


def test_a_conditional_check_failure_carries_the_item_and_changes_nothing(
    aws_env: None, dynamo_table: DynamoTable
) -> None:
    client = client_for(dynamo_table.endpoint_url)
    put(client, dynamo_table.name)
    with pytest.raises(ConditionalCheckFailed) as refused:
        client.call(
            "UpdateItem",
            {
                "TableName": dynamo_table.name,
                "Key": KEY,
                "UpdateExpression": "SET lastname = :l",
                "ConditionExpression": "attribute_not_exists(lastname)",
                "ExpressionAttributeValues": {":l": {"S": "queen"}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        )
    assert refused.value.item == {**KEY, "lastname": {"S": "king"}}
    assert stored(dynamo_table) == [{**KEY, "lastname": {"S": "king"}}]


def test_a_validation_error_is_not_retried(aws_env: None, dynamo_table: DynamoTable) -> None:
    proxy = dynamo_server.scripted_proxy(dynamo_table.endpoint_url, [])
    with proxy as (url, seen), pytest.raises(DynamoDBError) as error:
        client_for(url).call(
            "UpdateItem",
            {"TableName": dynamo_table.name, "Key": KEY, "UpdateExpression": "SET"},
        )
    assert type(error.value) is DynamoDBError
    assert error.value.code == "ValidationException"
    assert seen.operations == ["UpdateItem"]
    assert stored(dynamo_table) == []


# ---------------------------------------------------------------- faults and retries


@pytest.mark.parametrize(
    ("answer", "retried"),
    [
        (Answer(400, "ProvisionedThroughputExceededException"), True),
        (Answer(400, "ThrottlingException"), True),
        (Answer(400, "RequestLimitExceeded"), True),
        (Answer(500, "InternalServerError"), True),
        (Answer(503, "ServiceUnavailable"), True),
        (Answer(wrong_crc32=True), True),
        (Answer(400, "UnrecognizedClientException"), False),
        (Answer(400, "InvalidSignatureException"), False),
        (Answer(400, "ExpiredTokenException"), False),
        (Answer(400, "AccessDeniedException"), False),
        (Answer(400, "ResourceNotFoundException"), False),
    ],
    ids=lambda value: value.code or "wrong-crc32" if isinstance(value, Answer) else str(value),
)
def test_each_error_class_is_retried_only_if_the_standard_mode_retries_it(
    aws_env: None,
    dynamo_table: DynamoTable,
    answer: Answer,
    retried: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("app.store.dynamodb_client.THROTTLING_BACKOFF_S", 0.01)
    # One bad answer, then the real server: a retried write lands once.
    with dynamo_server.scripted_proxy(dynamo_table.endpoint_url, [answer]) as (url, seen):
        client = client_for(url)
        if retried:
            put(client, dynamo_table.name)
            assert seen.operations == ["UpdateItem", "UpdateItem"]
            assert stored(dynamo_table) == [{**KEY, "lastname": {"S": "king"}}]
        else:
            with pytest.raises(DynamoDBRefused) as refused:
                put(client, dynamo_table.name)
            assert refused.value.code == answer.code
            assert seen.operations == ["UpdateItem"]
            assert stored(dynamo_table) == []


@pytest.mark.parametrize(
    "answer",
    [
        Answer(400, "ThrottlingException"),
        Answer(500, "InternalServerError"),
        Answer(wrong_crc32=True),
    ],
    ids=["throttling", "5xx", "wrong-crc32"],
)
def test_retries_stop_at_max_attempts_with_the_store_unavailable(
    aws_env: None, dynamo_table: DynamoTable, answer: Answer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.store.dynamodb_client.THROTTLING_BACKOFF_S", 0.01)
    script = [answer] * 5
    with dynamo_server.scripted_proxy(dynamo_table.endpoint_url, script) as (url, seen):
        with pytest.raises(DynamoDBUnavailable):
            put(client_for(url), dynamo_table.name)
        assert len(seen.operations) == SETTINGS["max_attempts"]
    if not answer.wrong_crc32:
        assert stored(dynamo_table) == []


def test_no_retry_starts_that_the_remaining_time_cannot_hold(
    aws_env: None, dynamo_table: DynamoTable
) -> None:
    script = [Answer(500, "InternalServerError")] * 3
    with dynamo_server.scripted_proxy(dynamo_table.endpoint_url, script) as (url, seen):
        token = remaining_time.set(lambda: 1.0)  # less than one more attempt's timeouts
        try:
            with pytest.raises(DynamoDBUnavailable):
                put(client_for(url), dynamo_table.name)
        finally:
            remaining_time.reset(token)
        assert seen.operations == ["UpdateItem"]


def test_a_refused_connection_is_retried_then_unavailable(aws_env: None) -> None:
    with pytest.raises(DynamoDBUnavailable) as error:
        put(client_for(dynamo_server.refusing_endpoint()), "users")
    assert error.value.code == "ConnectionFailed"


def test_a_stalled_server_times_out_and_is_unavailable(aws_env: None) -> None:
    with dynamo_server.stalling_endpoint() as url:
        client = client_for(url, read_timeout=0.2, max_attempts=2)
        with pytest.raises(DynamoDBUnavailable) as error:
            put(client, "users")
    assert error.value.code == "Timeout"


# ---------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def local_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


def test_talks_over_https_with_a_configured_bundle(
    aws_env: None, dynamo_table: DynamoTable, local_ca: LocalCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", str(local_ca.ca_pem))
    with tls_front(dynamo_table.endpoint_url, local_ca) as https_url:
        client = client_for(https_url)
        put(client, dynamo_table.name)
        assert read_back(client, dynamo_table.name) is not None
        assert not client.widened


def test_a_server_amazon_roots_do_not_cover_gets_the_full_bundle_and_one_write(
    aws_env: None, dynamo_table: DynamoTable, local_ca: LocalCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    with tls_front(dynamo_table.endpoint_url, local_ca) as https_url:
        client = client_for(https_url, fallback_cafile=str(local_ca.ca_pem))
        assert not client.widened
        put(client, dynamo_table.name)
        assert client.widened
        put(client, dynamo_table.name, "queen")
    assert stored(dynamo_table) == [{**KEY, "lastname": {"S": "queen"}}]


def test_a_server_no_bundle_covers_is_refused(
    aws_env: None, dynamo_table: DynamoTable, local_ca: LocalCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    other_ca = make_test_ca(Path(str(local_ca.ca_pem.parent)) / "other", "Another test CA")
    with tls_front(dynamo_table.endpoint_url, local_ca) as https_url:
        client = client_for(https_url, fallback_cafile=str(other_ca.ca_pem))
        with pytest.raises(DynamoDBRefused, match="CERTIFICATE_VERIFY_FAILED"):
            put(client, dynamo_table.name)
    assert stored(dynamo_table) == []
