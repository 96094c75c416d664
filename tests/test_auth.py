"""app/auth.py beyond the contract table: credential edge cases and where they come from."""

from __future__ import annotations

import base64
import time

import pytest
from flask.testing import FlaskClient

from app import auth

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def protected(client: FlaskClient, username: str, password: str) -> None:
    form = f"username={username}&password={password}"
    assert client.post("/userSignUp", data=form, headers=FORM).status_code == 200


def test_a_non_ascii_look_alike_of_the_name_is_not_the_account(client: FlaskClient) -> None:
    protected(client, "kim", "kims-password")
    # U+212A KELVIN SIGN lower()s to 'k'; it can never be a username.
    response = client.get("/userDetails?username=kim", headers=basic("\u212aim:kims-password"))
    assert response.status_code == 401
    assert client.get("/userDetails?username=kim", headers=basic("KIM:kims-password")).json


def test_same_origin_form_posts_with_credentials_are_allowed(client: FlaskClient) -> None:
    protected(client, "sam", "sams-password")
    headers = {**FORM, **basic("sam:sams-password")}
    same_origin = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    assert (
        client.post(
            "/userDetails", data="username=sam&lastname=a", headers={**headers, **same_origin}
        ).status_code
        == 201
    )
    # Without fetch metadata, a foreign Origin alone marks the form post as cross-site.
    foreign = {"Origin": "https://evil.example"}
    response = client.post(
        "/userDetails", data="username=sam&lastname=b", headers={**headers, **foreign}
    )
    assert response.status_code == 403
    assert (
        client.get("/userDetails?username=sam", headers=basic("sam:sams-password")).json["lastname"]
        == "a"
    )


def test_an_open_account_ignores_the_cross_site_rule(client: FlaskClient) -> None:
    # Nothing is protected, so nothing can be forged: anyone may post its details.
    assert client.post("/userSignUp", data="username=pat", headers=FORM).status_code == 200
    response = client.post(
        "/userDetails",
        data="username=pat&lastname=x",
        headers={**FORM, "Origin": "https://elsewhere.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 201


def test_one_request_verifies_at_most_one_password(client: FlaskClient, monkeypatch) -> None:
    from app import auth

    protected(client, "ann", "anns-password")
    protected(client, "bob", "bobs-password")
    calls: list[str] = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda h, p: calls.append(p) or real(h, p))

    def status(credentials: str) -> int:
        return client.get("/userDetails?username=ann", headers=basic(credentials)).status_code

    assert [status("bob:wrong"), status("bob:bobs-password"), status("ann:wrong")] == [
        401,
        403,
        401,
    ]
    assert len(calls) == 3


class Clock:
    """app/auth.py's clock (it stamps failures and judges waits), moved by the test."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(auth, "time", fake)
    return fake


def test_wrong_passwords_make_the_account_wait_longer_each_time(
    client: FlaskClient, clock: Clock, monkeypatch
) -> None:
    protected(client, "ann", "anns-password")
    checked: list[str] = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda h, p: checked.append(p) or real(h, p))

    def status(password: str) -> tuple[int, str | None]:
        response = client.get("/userDetails?username=ann", headers=basic("ann:" + password))
        return response.status_code, response.headers.get("Retry-After")

    assert [status("wrong")[0] for _ in range(auth.FREE_FAILURES)] == [401] * auth.FREE_FAILURES
    # Now even the right password waits, and nothing is hashed while it does.
    assert status("anns-password") == (429, str(auth.FIRST_WAIT))
    assert status("wrong") == (429, str(auth.FIRST_WAIT))
    assert len(checked) == auth.FREE_FAILURES
    clock.offset = auth.FIRST_WAIT + 1
    assert status("wrong")[0] == 401  # the sixth: the wait doubles
    assert status("anns-password") == (429, str(2 * auth.FIRST_WAIT))
    clock.offset += 2 * auth.FIRST_WAIT + 1
    assert status("anns-password") == (200, None)  # and the count starts over
    assert [status("wrong")[0] for _ in range(auth.FREE_FAILURES)] == [401] * auth.FREE_FAILURES


def test_the_wait_stops_doubling_at_its_cap() -> None:
    waits = [auth.login_wait(n, 0.0, 0.0) for n in range(auth.FREE_FAILURES + 12)]
    assert waits[: auth.FREE_FAILURES] == [0.0] * auth.FREE_FAILURES
    assert waits[auth.FREE_FAILURES] == auth.FIRST_WAIT
    assert max(waits) == auth.MAX_WAIT == waits[-1]
    assert auth.login_wait(auth.FREE_FAILURES, 100.0, 100.0 + auth.FIRST_WAIT) == 0.0


def test_guesses_under_another_accounts_name_count_against_that_account(
    client: FlaskClient,
) -> None:
    protected(client, "ann", "anns-password")
    protected(client, "bob", "bobs-password")
    for _ in range(auth.FREE_FAILURES):
        response = client.get("/userDetails?username=ann", headers=basic("bob:wrong"))
        assert response.status_code == 401
    response = client.get("/userDetails?username=bob", headers=basic("bob:bobs-password"))
    assert response.status_code == 429
    assert response.headers["Cache-Control"] == "no-store"
    # ann's own account was never guessed at.
    assert client.get("/userDetails?username=ann", headers=basic("ann:anns-password")).json


@pytest.mark.parametrize(
    ("remote_addr", "client"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:DB8:0:0::7", "2001:db8::7"),  # one spelling per IPv6 address
        ("", auth.UNKNOWN_CLIENT),  # an API Gateway console test has no source address
        ("203.0.113.9, 198.51.100.1", auth.UNKNOWN_CLIENT),  # never a list, never a name
    ],
)
def test_the_client_address_is_the_edges_in_one_spelling(
    app, remote_addr: str, client: str
) -> None:
    with app.test_request_context(environ_base={"REMOTE_ADDR": remote_addr}):
        assert auth.client_address() == client


def test_the_ceiling_ends_when_enough_wrong_passwords_age_out() -> None:
    from app.store import Failures, StoredUser

    now = 10_000.0
    ages = [auth.CEILING_WINDOW - 10 * i for i in range(1, auth.MAX_GUESSING_CLIENTS + 2)]
    failures = {f"192.0.2.{i}": Failures(1, now - age) for i, age in enumerate(ages)}
    user = StoredUser("sam", None, None, True, "hash", failures=failures)
    # One over the ceiling: the two oldest must age out; the second oldest is 20 s from it.
    assert auth.account_wait(user, now) == 20.0
    fewer = dict(list(failures.items())[2:])
    assert auth.account_wait(StoredUser("sam", None, None, True, "h", failures=fewer), now) == 0
