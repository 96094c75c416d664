"""The contract table through every channel.

- the Flask test client;
- handler.handler in-process, with every event kind, plain and base64 bodies;
- the Flask dev server over real HTTP;
- serverless-offline (the emulator behind `make run`) over real HTTP, both flavours;
- the real Lambda runtime (RIE + awslambdaric) with every event kind, on DynamoDB
  (DynamoDB Local), since real Lambda refuses the SQLite default.

Each channel must give the status, body and headers the table promises, which is
what the Flask view returned; event channels are also compared header-for-header
with the Flask test client.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.channels import (
    TRANSPORT_HEADERS,
    dev_server,
    flask_client_channel,
    handler_invoke,
    http_channel,
    lambda_channel,
)
from tests.contract import CASES, Case, Channel, run_case, unique_user
from tests.events import EVENT_KINDS
from tests.http_types import HttpResponse
from tests.lambda_runtime import LambdaRuntime, running_lambda
from tests.offline_server import start_offline
from tests.stores import DynamoTable

pytest_plugins = ["tests.conftest_dynamo"]

CASE_IDS = [case.name for case in CASES]


def comparable(response: HttpResponse) -> list[tuple[str, str]]:
    return sorted((k.lower(), v) for k, v in response.headers if k.lower() not in TRANSPORT_HEADERS)


@pytest.fixture(scope="module")
def reference() -> Channel:
    import handler

    return flask_client_channel(handler.app)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_flask_test_client(case: Case, reference: Channel) -> None:
    run_case(reference, case)


@pytest.mark.parametrize("base64_body", [False, True], ids=["plain", "base64"])
@pytest.mark.parametrize("kind", EVENT_KINDS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_lambda_handler(case: Case, kind: str, base64_body: bool, reference: Channel) -> None:
    user = unique_user()
    response = run_case(lambda_channel(handler_invoke, kind, base64_body=base64_body), case, user)
    # Same-length username, so even Content-Length must match the test client exactly.
    expected = run_case(reference, case, unique_user())
    assert comparable(response) == comparable(expected)


@pytest.fixture(scope="module")
def dev_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("dev-server") / "users.sqlite3"
    with dev_server({"USERS_DB": str(db)}) as url:
        yield url


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_dev_server(case: Case, dev_server_url: str) -> None:
    run_case(http_channel(dev_server_url), case)


@pytest.fixture(scope="module", params=["httpApi", "http"], ids=["offline-v2", "offline-rest"])
def offline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(base URL, event flavour): offline serves either HTTP API or REST events, not both."""
    db = tmp_path_factory.mktemp("offline") / "users.sqlite3"
    with start_offline(env={"USERS_DB": str(db)}, events=request.param) as url:
        yield url, request.param


# Where serverless-offline 14 itself departs from API Gateway; strict, so a fixed emulator
# turns these red and they get removed.
OFFLINE_DEVIATIONS = {
    ("sign-up: no content type", "httpApi"): "offline invents Content-Type: application/json"
    " for v2 events without one (LambdaProxyIntegrationEventV2.js)",
    ("details: JSON that is not UTF-8", "httpApi"): "offline decodes every body as UTF-8"
    " text, replacing undecodable bytes with U+FFFD, so the app never sees them",
    ("details: JSON that is not UTF-8", "http"): "same lossy UTF-8 decoding on REST events",
}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_serverless_offline(
    case: Case, offline: tuple[str, str], request: pytest.FixtureRequest
) -> None:
    url, flavour = offline
    reason = OFFLINE_DEVIATIONS.get((case.name, flavour))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    run_case(http_channel(url), case)


@pytest.fixture(scope="module")
def lambda_runtime(dynamodb_server, dynamodb_admin) -> Iterator[LambdaRuntime]:
    from tests import dynamo_server

    table = DynamoTable(dynamodb_server.endpoint_url, dynamo_server.create_table(dynamodb_admin))
    env = {"USERS_TABLE": table.name, "AWS_ENDPOINT_URL_DYNAMODB": table.endpoint_url}
    with running_lambda(env=env) as runtime:
        yield runtime


@pytest.mark.slow
@pytest.mark.parametrize("base64_body", [False, True], ids=["plain", "base64"])
@pytest.mark.parametrize("kind", EVENT_KINDS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_real_lambda_runtime(
    case: Case, kind: str, base64_body: bool, lambda_runtime: LambdaRuntime
) -> None:
    channel = lambda_channel(
        lambda event: lambda_runtime.invoke(event, check=True), kind, base64_body=base64_body
    )
    run_case(channel, case)
