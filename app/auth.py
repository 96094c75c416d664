"""Who may read or change an account: HTTP Basic credentials (RFC 7617) for protected ones.

An account created without a password is open, as the article's own sign-up creates it:
anyone may post and read its details. An account created with a password is protected:
only a request carrying that account's username and password may.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import time
from dataclasses import dataclass, field

from flask import request

from app import metrics
from app.passwords import needs_rehash, verify_password
from app.problems import Problem
from app.store import StoredUser, get_store, user_key
from app.validation import MAX_PASSWORD_LENGTH, SIMPLE_BODY_TYPES, USERNAME_PATTERN

CHALLENGE = {"WWW-Authenticate": 'Basic realm="user-api", charset="UTF-8"'}
WRONG_CREDENTIALS = "The username or password is wrong."
# Online guessing (docs/accounts.md), per account AND client address: after FREE_FAILURES
# wrong passwords in a row from one address, each further try from it must wait
# FIRST_WAIT seconds after its last wrong one, doubling per failure up to MAX_WAIT; a right
# password from it (after the wait) starts its count over. Another address is not slowed.
FREE_FAILURES = 5
FIRST_WAIT = 30
MAX_WAIT = 15 * 60
# The account-wide ceiling, against guessing spread over many addresses: once this many
# addresses have each sent a wrong password within CEILING_WINDOW seconds, the account
# takes no password from any address until enough of them are older than that.
MAX_GUESSING_CLIENTS = 20
CEILING_WINDOW = 3600
# Requests whose edge reported no address (e.g. a console test) share one key.
UNKNOWN_CLIENT = "unknown"


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str = field(repr=False)


def unauthorized(detail: str) -> Problem:
    # Never echo any part of the Authorization header back: it carries a password.
    return Problem(401, detail, headers=CHALLENGE)


def credentials_required() -> Problem:
    return unauthorized(
        "This account is protected: send its username and password with HTTP Basic authentication."
    )


def basic_credentials(header: str | None) -> Credentials:
    """The request's Basic credentials; any missing or malformed header is a 401."""
    if not header:
        raise credentials_required()
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise unauthorized("The Authorization header must use the Basic scheme.")
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise unauthorized("The Basic credentials are not valid base64.") from None
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise unauthorized("The Basic credentials are not valid UTF-8.") from None
    username, colon, password = text.partition(":")
    if not colon:
        raise unauthorized("The Basic credentials must have the form username:password.")
    return Credentials(username, password)


def is_cross_site() -> bool:
    """Did a browser send this from another site? Fetch metadata when the browser sends it,
    else the Origin header against this API's own origin."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    return origin is not None and origin.rstrip("/") != request.host_url.rstrip("/")


def refuse_cross_site_form_write() -> None:
    """CSRF: after a user answers the browser's Basic prompt, the browser attaches those
    credentials to any request to this host, including a form another site posts here. Such
    a form body needs no CORS preflight, and `Access-Control-Allow-Origin: *` only hides the
    answer, not the write. A front end that sends credentials itself uses JSON (which is
    preflighted; a preflight with `*` never admits browser-held credentials)."""
    if (
        request.method not in ("GET", "HEAD", "OPTIONS")
        and request.mimetype in SIMPLE_BODY_TYPES
        and is_cross_site()
    ):
        metrics.count(metrics.CROSS_SITE_REFUSALS)
        raise Problem(
            403,
            "A cross-site form post cannot change a protected account; send the request as"
            " application/json with an Authorization header.",
        )


def client_address() -> str:
    """The address the request came from, as the edge saw it, never a header the client
    sets: REMOTE_ADDR, which serverless-wsgi takes from API Gateway's and function URLs'
    requestContext sourceIp, and lambda_edge from the X-Forwarded-For hop that the ALB or
    Lattice appended (the last one); the dev server's socket peer."""
    try:
        # One spelling per address (IPv6 has many); anything else is no address at all.
        return str(ipaddress.ip_address(request.remote_addr or ""))
    except ValueError:
        return UNKNOWN_CLIENT


def account_wait(user: StoredUser, now: float) -> float:
    """Seconds until the account takes passwords again from every address: 0 unless
    MAX_GUESSING_CLIENTS addresses each sent a wrong one within CEILING_WINDOW."""
    recent = sorted(
        f.at for f in user.failures.values() if f.at is not None and f.at > now - CEILING_WINDOW
    )
    if len(recent) < MAX_GUESSING_CLIENTS:
        return 0.0
    # Over when all but MAX_GUESSING_CLIENTS - 1 of them have aged out of the window.
    return recent[len(recent) - MAX_GUESSING_CLIENTS] + CEILING_WINDOW - now


def login_wait(failed_logins: int, failed_at: float | None, now: float) -> float:
    """Seconds until a client may try another password: 0 while its guesses are free."""
    if failed_logins < FREE_FAILURES or failed_at is None:
        return 0.0
    wait = min(FIRST_WAIT * 2.0 ** (failed_logins - FREE_FAILURES), MAX_WAIT)
    return max(0.0, failed_at + wait - now)


def too_many_failures(wait: float) -> Problem:
    metrics.count(metrics.ACCOUNT_WAITS)
    return Problem(
        429,
        "Too many wrong passwords for this account; wait before trying again (Retry-After).",
        headers={"Retry-After": str(math.ceil(wait))},
    )


@dataclass(frozen=True, slots=True)
class Login:
    """A right password for ``user``'s account: what the request's own write must know."""

    user: StoredUser
    password: str = field(repr=False)
    client: str
    # The attempt was counted before it was checked (a store write already made).
    counted: bool

    @property
    def password_hash(self) -> str:
        assert self.user.password_hash is not None  # only protected accounts log in
        return self.user.password_hash


def check_password(user: StoredUser, password: str, client: str) -> Login | None:
    """A Login if ``password`` is the protected account's password, else None. Writes only
    the count of wrong passwords from ``client``; a right one is left for the caller.

    While this client, or the whole account (the ceiling), is waiting out wrong guesses, a
    429 before any hashing. Once the client has had FREE_FAILURES, each of its attempts is
    counted before it is hashed, on the condition that its count is still the one just
    read: of attempts arriving together, one is hashed and the rest get 429, so a burst
    buys no extra guesses. Before that, a wrong password is counted after hashing.
    """
    stored = user.password_hash
    assert stored is not None  # open accounts have no password to check
    now = time.time()
    mine = user.failures_from(client)
    wait = max(login_wait(mine.count, mine.at, now), account_wait(user, now))
    if wait > 0:
        raise too_many_failures(wait)
    store = get_store()
    counted = mine.count >= FREE_FAILURES
    if counted and not store.claim_login_attempt(user, client, now):
        raise too_many_failures(login_wait(mine.count + 1, now, now))
    # No hashing of huge inputs; they count as wrong.
    if len(password) > MAX_PASSWORD_LENGTH or not verify_password(stored, password):
        metrics.count(metrics.WRONG_PASSWORDS)
        if not counted:
            store.record_failed_login(user, client, now)
        return None
    return Login(user, password, client, counted)


def authenticate(user: StoredUser) -> Login:
    """The request's credentials checked against the protected account ``user``.

    Raises 401 (no, malformed or wrong credentials), 403 (another account's valid ones, or
    a cross-site form post) or 429 (an account waiting out wrong passwords).
    """
    credentials = basic_credentials(request.headers.get("Authorization"))
    refuse_cross_site_form_write()
    if not USERNAME_PATTERN.fullmatch(credentials.username):
        # Only names that can exist; also keeps non-ASCII look-alikes (the Kelvin sign
        # lower()s to 'k') from matching an account.
        raise unauthorized(WRONG_CREDENTIALS)
    client = client_address()
    if user_key(credentials.username) == user_key(user.username):
        login = check_password(user, credentials.password, client)
        if login is None:
            raise unauthorized(WRONG_CREDENTIALS)
        return login
    other = get_store().get_user(credentials.username)
    # The other account's count is left as it is: it is not the account acted on.
    if (
        other is not None
        and other.protected
        and check_password(other, credentials.password, client) is not None
    ):
        raise Problem(
            403,
            f"These credentials are for another account; they cannot read or change"
            f" '{user.username}'.",
            field="username",
        )
    raise unauthorized(WRONG_CREDENTIALS)


def authorize_read(user: StoredUser) -> None:
    """Let this request read ``user``'s account, or raise 401/403/429 (authenticate).

    Writes, after a right password: a legacy or weaker hash is replaced by argon2id, else
    the count of wrong passwords from this client is cleared; at most one write either
    way, so a request stays within three store calls (app/store/dynamodb.py,
    MAX_CALLS_PER_REQUEST).
    """
    if not user.protected:
        return
    login = authenticate(user)
    store = get_store()
    if needs_rehash(login.password_hash):
        from app.passwords import hash_password

        upgraded = hash_password(login.password)
        store.replace_password_hash(user.username, login.password_hash, upgraded)
    elif user.failures_from(login.client).count:
        store.clear_failed_logins(user.username, login.password_hash, login.client)


def authorize_write(user: StoredUser | None) -> str | None:
    """Let this request change ``user``'s account: the password hash its write must be
    conditioned on (None for an absent or open account), or raise 401/403/429.

    Writes nothing after a right password: the caller's conditional write clears the count
    of wrong passwords from client_address() itself. (A legacy hash is upgraded on the
    next read.)
    """
    if user is None or not user.protected:
        return None
    return authenticate(user).password_hash
