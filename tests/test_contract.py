"""The contract table through every channel, each case at least once per channel.

Channels, and why each runs what it runs:

- the Flask test client: every case. It is the reference the event channels are
  compared with, header for header.
- handler.handler in-process, on SQLite: every case through every event kind (REST v1,
  HTTP API v2, function URL, ALB single and multi-value, VPC Lattice v1 and v2), with
  bodies encoded as AWS sends them (HTTP API and function URLs base64-encode form posts).
  These are the runs that prove each kind's request and response rules end to end.
- the same with every body base64-encoded, but only for cases that carry a body and only
  on one kind per flag spelling (``isBase64Encoded``: REST v1; ``is_base64_encoded``:
  Lattice v1): decoding is one shared function, so more kinds would prove nothing new,
  and tests/test_lambda_edge.py checks every kind's flag on its own.
- the Flask dev server and serverless-offline (both flavours) over real HTTP: every case.
- the real Lambda runtime (RIE + awslambdaric) on DynamoDB (DynamoDB Local), since real
  Lambda refuses SQLite: every case on one kind (HTTP API v2, what `make run` serves),
  and the seed cases on every other kind. This is also the contract on DynamoDB: an
  in-process run of every case x kind on DynamoDB would repeat the SQLite runs above
  through the same handler with nothing new to find, so there is none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from lambda_edge.header_policy import STRICT_TRANSPORT_SECURITY
from tests.channels import (
    TRANSPORT_HEADERS,
    dev_server,
    flask_client_channel,
    handler_invoke,
    http_channel,
    lambda_channel,
)
from tests.contract import CASES, Case, Channel, form_post, get, run_case, substitute, unique_user
from tests.events import EVENT_KINDS, EventKind
from tests.http_types import HttpRequest, HttpResponse
from tests.lambda_runtime import LambdaRuntime, running_lambda
from tests.offline_server import start_offline
from tests.stores import DynamoTable

pytest_plugins = ["tests.conftest_dynamo"]

CASE_IDS = [case.name for case in CASES]
HSTS = "Strict-Transport-Security"


def comparable(response: HttpResponse) -> list[tuple[str, str]]:
    return sorted((k.lower(), v) for k, v in response.headers if k.lower() not in TRANSPORT_HEADERS)


@pytest.fixture(scope="module")
def reference() -> Channel:
    import handler

    return flask_client_channel(handler.app)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_flask_test_client(case: Case, reference: Channel) -> None:
    run_case(reference, case)


@pytest.fixture(scope="module")
def reference_headers(reference: Channel) -> Callable[[Case], list[tuple[str, str]]]:
    """The test client's headers for a case, computed once per case (not once per kind)."""
    seen: dict[str, list[tuple[str, str]]] = {}

    def headers_for(case: Case) -> list[tuple[str, str]]:
        if case.name not in seen:
            seen[case.name] = comparable(run_case(reference, case, unique_user()))
        return seen[case.name]

    return headers_for


def assert_same_as_the_test_client(
    channel: Channel, case: Case, reference_headers: Callable[[Case], list[tuple[str, str]]]
) -> None:
    response = run_case(channel, case, unique_user())
    # Same-length usernames, so even Content-Length must match the test client exactly.
    assert comparable(response) == reference_headers(case)


@pytest.mark.parametrize("kind", EVENT_KINDS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_lambda_handler(
    case: Case, kind: EventKind, reference_headers: Callable[[Case], list[tuple[str, str]]]
) -> None:
    channel = lambda_channel(handler_invoke, kind, base64_body=None)
    assert_same_as_the_test_client(channel, case, reference_headers)


BODY_CASES = [case for case in CASES if case.request.body]


@pytest.mark.parametrize("kind", ["rest_v1", "lattice_v1"])
@pytest.mark.parametrize("case", BODY_CASES, ids=[case.name for case in BODY_CASES])
def test_lambda_handler_base64_bodies(
    case: Case, kind: EventKind, reference_headers: Callable[[Case], list[tuple[str, str]]]
) -> None:
    channel = lambda_channel(handler_invoke, kind, base64_body=True)
    assert_same_as_the_test_client(channel, case, reference_headers)


@pytest.fixture(scope="module")
def dev_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("dev-server") / "users.sqlite3"
    with dev_server({"USERS_DB": str(db)}) as url:
        yield url


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_dev_server(case: Case, dev_server_url: str) -> None:
    response = run_case(http_channel(dev_server_url), case)
    assert response.header(HSTS) is None  # plain HTTP: no Strict-Transport-Security


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
    **{
        ("page: revalidating with the current ETag is a 304 without a body", flavour): "offline"
        " gives a Lambda answer without Content-Type one of application/json (a 304 has none)"
        for flavour in ("httpApi", "http")
    },
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
    response = run_case(http_channel(url), case)
    assert response.header(HSTS) is None  # plain HTTP: no Strict-Transport-Security


# What serverless-offline's server (hapi) adds to the app's answer, found by comparing with the
# dev server, which adds only transport headers; the same on both flavours (README: known
# emulator deviations). (label, request, the emulator's status, headers it adds or changes.)
# Not here, for want of an answer of 1 KiB or more (verified with a throwaway route): such
# text/JSON bodies also get "vary: accept-encoding" and arrive gzip-compressed when the request
# accepts gzip.
OFFLINE_ADDED_HEADERS: list[tuple[str, HttpRequest, int, dict[str, str]]] = [
    (
        "no Cache-Control of the app's own",
        form_post("/userDetails", "username={user}&firstname=john&lastname=king"),
        201,
        {"cache-control": "no-cache"},
    ),
    # The app's own Cache-Control (no-store) stays; a GET answered 200 gains accept-ranges.
    ("GET 200", get("/userDetails", {"username": "{user}"}), 200, {"accept-ranges": "bytes"}),
    (
        "GET 200 with Range: the emulator answers the range, API Gateway the whole body",
        get("/userDetails", {"username": "{user}"}, Range="bytes=0-3"),
        206,
        {"accept-ranges": "bytes", "content-length": "4", "content-range": "bytes 0-3/{length}"},
    ),
    (
        "preflight: an empty body",
        HttpRequest(
            "OPTIONS",
            "/userSignUp",
            headers=(("Origin", "http://page.test"), ("Access-Control-Request-Method", "POST")),
        ),
        204,
        {"cache-control": "no-cache", "vary": "accept-encoding"},
    ),
]
OFFLINE_SETUP = form_post("/userSignUp", "username={user}&firstname=john")


@pytest.mark.slow
def test_serverless_offline_adds_exactly_the_documented_headers(
    offline: tuple[str, str], dev_server_url: str
) -> None:
    url, _ = offline
    user = unique_user()
    answers: dict[str, list[HttpResponse]] = {}
    for name, base_url in (("dev", dev_server_url), ("offline", url)):
        channel = http_channel(base_url)
        assert channel(substitute(OFFLINE_SETUP, user)).status == 200
        answers[name] = [channel(substitute(row[1], user)) for row in OFFLINE_ADDED_HEADERS]
    for (label, _, status, added), dev, emulated in zip(
        OFFLINE_ADDED_HEADERS, answers["dev"], answers["offline"], strict=True
    ):
        assert dev.status == (200 if status == 206 else status), label
        assert emulated.status == status, label
        dev_headers, emulated_headers = dict(comparable(dev)), dict(comparable(emulated))
        expected = {k: v.replace("{length}", str(len(dev.body))) for k, v in added.items()}
        changed = {k: v for k, v in emulated_headers.items() if dev_headers.get(k) != v}
        assert changed == expected, label
        assert set(dev_headers) <= set(emulated_headers), label  # and it drops none


@pytest.fixture(scope="module")
def lambda_runtime(dynamodb_server, dynamodb_admin) -> Iterator[LambdaRuntime]:
    from tests import dynamo_server

    table = DynamoTable(dynamodb_server.endpoint_url, dynamo_server.create_table(dynamodb_admin))
    env = {"USERS_TABLE": table.name, "AWS_ENDPOINT_URL_DYNAMODB": table.endpoint_url}
    with running_lambda(env=env) as runtime:
        yield runtime


RUNTIME_KIND: EventKind = "http_api_v2"
SEED_CASES = [case for case in CASES if case.name.startswith("seed: ")]
RUNTIME_RUNS = [(case, RUNTIME_KIND) for case in CASES] + [
    (case, kind) for kind in EVENT_KINDS if kind != RUNTIME_KIND for case in SEED_CASES
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "kind"), RUNTIME_RUNS, ids=[f"{kind}-{case.name}" for case, kind in RUNTIME_RUNS]
)
def test_real_lambda_runtime(case: Case, kind: EventKind, lambda_runtime: LambdaRuntime) -> None:
    channel = lambda_channel(
        lambda event: lambda_runtime.invoke(event, check=True), kind, base64_body=None
    )
    response = run_case(channel, case)
    # A Lambda runtime: in AWS every channel is HTTPS, so every answer carries HSTS.
    assert response.header(HSTS) == STRICT_TRANSPORT_SECURITY[HSTS]
