"""The guessing limits (app/auth.py, docs/accounts.md) per account and client address,
through handler.handler with real-shaped events from distinct source addresses, on both
stores: a stranger's wrong passwords slow the stranger, never the owner at another address,
and an account-wide ceiling stops guessing spread over many addresses."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from app import auth, create_app
from tests.channels import handler_invoke
from tests.events import EVENT_KINDS, EventKind, build_event, read_result
from tests.http_types import HttpRequest, HttpResponse
from tests.stores import DynamoTable, app_config, basic_auth

pytest_plugins = ["tests.conftest_dynamo"]

FORM = (("Content-Type", "application/x-www-form-urlencoded"),)
OWNER_ADDRESS = "198.51.100.20"
STRANGER_ADDRESS = "203.0.113.66"
PASSWORD = "owners-password-1"
# Where each kind's edge puts the address it saw. ALB and Lattice append it to
# X-Forwarded-For; the API Gateway kinds and function URLs send it in requestContext.
FORWARDED_FOR_KINDS = frozenset({"alb", "alb_multi_value", "lattice_v1", "lattice_v2"})


# The function's own stores; boto3 behind the seam is the store suite's concern.
@pytest.fixture(params=("sqlite", pytest.param("dynamodb", marks=pytest.mark.slow)))
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def handler_on(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """handler.handler serving an app on this backend (it serves the module's app)."""
    import handler

    table: DynamoTable | None = (
        request.getfixturevalue("dynamo_table") if backend == "dynamodb" else None
    )
    monkeypatch.setattr(handler, "app", create_app(app_config(backend, tmp_path, table)))


def send(kind: EventKind, request: HttpRequest, address: str) -> HttpResponse:
    """``request`` as ``kind``'s edge delivers it from ``address``. The client also sends an
    X-Forwarded-For naming the owner's address (anyone can): it must change nothing."""
    if kind in FORWARDED_FOR_KINDS:
        # What the ALB or Lattice forwards: the client's own header, then the peer it saw.
        forwarded = f"{OWNER_ADDRESS}, {address}"
        request = dataclasses.replace(
            request, headers=(*request.headers, ("X-Forwarded-For", forwarded))
        )
        return read_result(handler_invoke(build_event(kind, request, base64_body=None)), kind)
    request = dataclasses.replace(
        request, headers=(*request.headers, ("X-Forwarded-For", OWNER_ADDRESS))
    )
    event = build_event(kind, request, base64_body=None)
    context = event["requestContext"]
    if kind == "rest_v1":
        context["identity"]["sourceIp"] = address
    else:
        context["http"]["sourceIp"] = address
    return read_result(handler_invoke(event), kind)


def sign_up(kind: EventKind, username: str) -> None:
    body = f"username={username}&password={PASSWORD}".encode()
    request = HttpRequest("POST", "/userSignUp", headers=FORM, body=body)
    assert send(kind, request, OWNER_ADDRESS).status == 200


def read_details(kind: EventKind, username: str, password: str, address: str) -> HttpResponse:
    request = HttpRequest(
        "GET",
        "/userDetails",
        query=(("username", username),),
        headers=tuple(basic_auth(username, password).items()),
    )
    return send(kind, request, address)


@pytest.mark.parametrize("kind", EVENT_KINDS)
@pytest.mark.usefixtures("handler_on")
def test_a_strangers_wrong_passwords_never_turn_the_owner_away(kind: EventKind) -> None:
    user = f"owner-{kind.replace('_', '-')}"
    sign_up(kind, user)
    statuses = [
        read_details(kind, user, "a-wrong-guess", STRANGER_ADDRESS).status
        for _ in range(auth.FREE_FAILURES + 1)
    ]
    assert statuses == [401] * auth.FREE_FAILURES + [429]
    # The stranger now waits, even with the right password ...
    waiting = read_details(kind, user, PASSWORD, STRANGER_ADDRESS)
    assert waiting.status == 429 and waiting.header("Retry-After") == str(auth.FIRST_WAIT)
    # ... while the owner, at another address, is let in at once, and stays let in.
    assert read_details(kind, user, PASSWORD, OWNER_ADDRESS).status == 200
    assert read_details(kind, user, "owner-mistyped", OWNER_ADDRESS).status == 401
    assert read_details(kind, user, PASSWORD, OWNER_ADDRESS).status == 200
    # The owner's right password did not start the stranger's count over.
    assert read_details(kind, user, "a-wrong-guess", STRANGER_ADDRESS).status == 429


@pytest.mark.usefixtures("handler_on")
def test_the_account_wide_ceiling_stops_guessing_spread_over_many_addresses() -> None:
    kind: EventKind = "http_api_v2"
    sign_up(kind, "spread")
    addresses = [f"192.0.2.{i}" for i in range(1, auth.MAX_GUESSING_CLIENTS + 1)]
    for address in addresses[:-1]:
        assert read_details(kind, "spread", "a-wrong-guess", address).status == 401
    # One address short of the ceiling: the owner is still let in.
    assert read_details(kind, "spread", PASSWORD, OWNER_ADDRESS).status == 200
    assert read_details(kind, "spread", "a-wrong-guess", addresses[-1]).status == 401
    # At the ceiling, no address gets a password checked, the owner's right one included,
    # until the oldest of those wrong passwords is an hour old.
    for address in (OWNER_ADDRESS, "192.0.2.200"):
        refused = read_details(kind, "spread", PASSWORD, address)
        assert refused.status == 429
        retry_after = int(refused.header("Retry-After") or 0)
        assert auth.CEILING_WINDOW - 60 <= retry_after <= auth.CEILING_WINDOW
