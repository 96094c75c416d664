"""Who may read or change an account: HTTP Basic credentials (RFC 7617) for protected ones.

An account created without a password is open, as the article's own sign-up creates it:
anyone may post and read its details. An account created with a password is protected:
only a request carrying that account's username and password may.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from dataclasses import dataclass, field

from flask import request

from app.passwords import needs_rehash, verify_password
from app.problems import Problem
from app.store import StoredUser, get_store, user_key
from app.validation import MAX_PASSWORD_LENGTH, SIMPLE_BODY_TYPES, USERNAME_PATTERN

CHALLENGE = {"WWW-Authenticate": 'Basic realm="user-api", charset="UTF-8"'}
WRONG_CREDENTIALS = "The username or password is wrong."
# Online guessing: after FREE_FAILURES wrong passwords in a row, each further try must wait
# FIRST_WAIT seconds after the last wrong one, doubling per failure up to MAX_WAIT; a right
# password (after the wait) starts over. At most ~4 guesses an hour once the wait is at its
# cap, while the account's owner is never locked out for longer than MAX_WAIT.
FREE_FAILURES = 5
FIRST_WAIT = 30
MAX_WAIT = 15 * 60


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
        raise Problem(
            403,
            "A cross-site form post cannot change a protected account; send the request as"
            " application/json with an Authorization header.",
        )


def login_wait(failed_logins: int, failed_at: float | None, now: float) -> float:
    """Seconds until the account takes another password: 0 while guesses are free."""
    if failed_logins < FREE_FAILURES or failed_at is None:
        return 0.0
    wait = min(FIRST_WAIT * 2.0 ** (failed_logins - FREE_FAILURES), MAX_WAIT)
    return max(0.0, failed_at + wait - now)


def too_many_failures(wait: float) -> Problem:
    return Problem(
        429,
        "Too many wrong passwords for this account; wait before trying again (Retry-After).",
        headers={"Retry-After": str(math.ceil(wait))},
    )


def verified_hash(user: StoredUser, password: str, *, clear: bool = True) -> str | None:
    """The account's current hash if ``password`` is its password, else None.

    While the account is waiting out wrong guesses, a 429 before any hashing. Once it has
    had FREE_FAILURES, each attempt is counted before it is hashed, on the condition that
    the count is still the one just read: of attempts arriving together, one is hashed and
    the rest get 429, so a burst buys no extra guesses. Before that, a wrong password is
    counted after hashing. A legacy (scrypt) or weaker hash is replaced by argon2id on
    success; the new hash is returned, so a write conditioned on it matches what is stored.

    ``clear``: after a right password, clear the count with a write of its own. False
    when the caller's own write clears it (the details write) or when the account is not
    the one being acted on (the 403 path); either way a request stays within three store
    calls (app/store/dynamodb.py, MAX_CALLS_PER_REQUEST).
    """
    stored = user.password_hash
    if stored is None:
        return None
    now = time.time()
    wait = login_wait(user.failed_logins, user.failed_at, now)
    if wait > 0:
        raise too_many_failures(wait)
    store = get_store()
    guarded = user.failed_logins >= FREE_FAILURES
    if guarded and not store.claim_login_attempt(user.username, stored, user.failed_logins, now):
        raise too_many_failures(login_wait(user.failed_logins + 1, now, now))
    # No hashing of huge inputs; they count as wrong.
    if len(password) > MAX_PASSWORD_LENGTH or not verify_password(stored, password):
        if not guarded:  # a guarded attempt was counted by its claim
            store.record_failed_login(user.username, stored, now)
        return None
    if needs_rehash(stored) and (clear or not guarded):
        from app.passwords import hash_password

        upgraded = hash_password(password)
        store.replace_password_hash(user.username, stored, upgraded)  # also clears failures
        return upgraded
    if clear and user.failed_logins:
        store.clear_failed_logins(user.username, stored)
    return stored


def owner_hash(user: StoredUser | None, *, write_follows: bool = False) -> str | None:
    """Authorise this request for ``user``'s account: None for an absent or open account;
    for a protected one, the password hash the credentials were verified against.

    ``write_follows``: the caller writes to the account next, conditioned on the returned
    hash, and that write clears the count of wrong passwords (store.put_details).

    Raises 401 (no, malformed or wrong credentials), 403 (another account's valid ones) or
    429 (an account waiting out wrong passwords).
    """
    if user is None or user.password_hash is None:
        return None
    credentials = basic_credentials(request.headers.get("Authorization"))
    refuse_cross_site_form_write()
    if not USERNAME_PATTERN.fullmatch(credentials.username):
        # Only names that can exist; also keeps non-ASCII look-alikes (the Kelvin sign
        # lower()s to 'k') from matching an account.
        raise unauthorized(WRONG_CREDENTIALS)
    if user_key(credentials.username) == user_key(user.username):
        current = verified_hash(user, credentials.password, clear=not write_follows)
        if current is None:
            raise unauthorized(WRONG_CREDENTIALS)
        return current
    other = get_store().get_user(credentials.username)
    if other is not None and verified_hash(other, credentials.password, clear=False) is not None:
        raise Problem(
            403,
            f"These credentials are for another account; they cannot read or change"
            f" '{user.username}'.",
            field="username",
        )
    raise unauthorized(WRONG_CREDENTIALS)
