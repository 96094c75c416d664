"""User storage: one interface, two backends (SQLite locally, DynamoDB in AWS).

Like flaskr's ``db`` module, this module owns the store's lifecycle: ``init_app``
chooses and opens the backend once per process, ``get_store`` hands it to views.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import Flask, current_app

from app.config import ConfigurationError


def user_key(username: str) -> str:
    """One identity per name whatever its case: 'Sam', 'SAM' and 'sam' are one user.

    Usernames are ASCII (app/validation.py), so lower() is the full case fold.
    """
    return username.lower()


# A client's wrong passwords are forgotten this long after its last one (seconds).
FORGET_FAILURES_AFTER = 24 * 3600


@dataclass(frozen=True, slots=True)
class Failures:
    """Wrong passwords in a row from one client address, and when the last came (epoch
    seconds, by app/auth.py's clock)."""

    count: int
    at: float | None


NO_FAILURES = Failures(0, None)


@dataclass(frozen=True, slots=True)
class StoredUser:
    """One user as stored. Fields a user never gave are None.

    ``username`` is the spelling GET returns: the one given at sign-up, or for a user with
    details but no account, the one first used to post them.
    """

    username: str
    firstname: str | None
    lastname: str | None
    has_account: bool
    # Never returned or logged; repr=False keeps it out of tracebacks and test output.
    password_hash: str | None = field(default=None, repr=False, compare=False)
    # Wrong passwords for the current password, by the client address they came from
    # (app/auth.py makes guessing wait per account and address, with an account-wide
    # ceiling). Records older than FORGET_FAILURES_AFTER are left out.
    failures: Mapping[str, Failures] = field(default_factory=dict, compare=False)
    # The store's own names for records it may delete on its next write to the user
    # (expired, or kept under an earlier password); opaque to everyone else.
    expired_failures: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def protected(self) -> bool:
        return self.password_hash is not None

    def failures_from(self, client: str) -> Failures:
        return self.failures.get(client, NO_FAILURES)


class StoreError(Exception):
    """Base class for failures a backend reports to the views."""


class UsernameTaken(StoreError):
    """Sign-up lost to an existing account: the store's own uniqueness check decided."""


class AccountChanged(StoreError):
    """A conditional write found the account's password hash no longer what the caller
    authorised against (claimed, or re-hashed, in between). Nothing was written."""


class StoreUnavailable(StoreError):
    """The backend could not answer in time (locked, throttled, unreachable).

    Raised only when nothing was written, so the client may safely retry.
    """


class UserStore(Protocol):
    def create_account(
        self, username: str, password_hash: str | None, firstname: str | None
    ) -> None:
        """Create the account, or raise UsernameTaken. Exactly one concurrent caller wins,
        whatever the case of the name each one used.

        Details posted earlier for the name do not count as an account. A password sign-up
        claims the name: in the same atomic write, details posted before it are dropped,
        so no reader ever sees someone else's details under the protected account.
        """

    def get_user(self, username: str) -> StoredUser | None:
        """The user, found case-insensitively; None when neither account nor details exist."""

    def put_details(
        self,
        username: str,
        firstname: str | None,
        lastname: str,
        *,
        expected_hash: str | None,
        client: str | None = None,
    ) -> None:
        """Insert or replace the user's details (an upsert), only while the account's password
        hash is still ``expected_hash`` (None: no account, or an open one); otherwise raise
        AccountChanged and write nothing. A write authorised by a password clears the wrong
        ones from ``client``, the address it came from (app/auth.py)."""

    def erase_user(self, username: str, *, expected_hash: str | None) -> None:
        """Delete the user's account, details and records of wrong passwords in one
        conditional operation, only while the account's password hash is still
        ``expected_hash`` (None: no account, or an open one); otherwise (or when there is
        nothing to delete) raise AccountChanged and delete nothing."""

    def change_password_hash(self, username: str, old_hash: str, new_hash: str) -> None:
        """Set the hash of a new password, only while ``old_hash`` (the one the request was
        authorised against) is still the stored one; otherwise raise AccountChanged and
        write nothing: of two concurrent changes, exactly one wins. Records of wrong
        passwords are kept per password, so every client's count starts over."""

    def replace_password_hash(self, username: str, old_hash: str, new_hash: str) -> None:
        """Swap in a stronger hash of the same password, only if ``old_hash`` is still the
        stored one (a concurrent change wins; this is an optimisation, never an error).
        Like a change, it starts every client's count over."""

    def record_failed_login(self, user: StoredUser, client: str, at: float) -> None:
        """Count one wrong password from ``client`` against ``user`` (as read) and stamp its
        time ``at``, only while ``user.password_hash`` is still the account's hash (one
        atomic increment: concurrent guesses all count). May delete expired records."""

    def claim_login_attempt(self, user: StoredUser, client: str, at: float) -> bool:
        """Count an attempt from ``client`` before checking it: its count becomes the one
        read (``user.failures_from(client)``) + 1, stamped ``at``, only while it is still
        the one read and the hash still ``user.password_hash``. False when another attempt
        got there first (or the hash changed): nothing is written."""

    def clear_failed_logins(self, username: str, password_hash: str, client: str) -> None:
        """Forget the wrong passwords from ``client`` after a right one from it, only while
        ``password_hash`` is still the account's hash."""


def init_app(app: Flask) -> None:
    app.extensions["user_store"] = open_store(app.config)
    if app.config.get("USERS_TABLE"):
        from app.store.dynamodb import track_remaining_time

        track_remaining_time(app)


def open_store(config: Mapping[str, Any]) -> UserStore:
    """DynamoDB when USERS_TABLE is set, else SQLite, which is refused inside Lambda."""
    if config.get("LAMBDA_FUNCTION_NAME") and sys.flags.optimize:
        # The zip ships bytecode compiled without optimisation; -O bytecode is looked up
        # under other names, so every module would be compiled again on each cold start.
        raise ConfigurationError(
            f"PYTHONOPTIMIZE is set in Lambda function {config['LAMBDA_FUNCTION_NAME']!r}:"
            " the shipped bytecode would be ignored and every module recompiled on each cold"
            " start. Remove PYTHONOPTIMIZE from the function's environment."
        )
    table = config.get("USERS_TABLE")
    if table:
        # Imported only here: SQLite runs need no DynamoDB client.
        from app.store.dynamodb import ClientSettings, DynamoUserStore

        return DynamoUserStore(table, ClientSettings.from_config(config))
    if config.get("LAMBDA_FUNCTION_NAME") and not config.get("LAMBDA_EMULATED"):
        # Each container has its own ephemeral disk: users written there would vanish
        # with the container and differ between concurrent ones. Refuse to start.
        raise ConfigurationError(
            f"USERS_TABLE is not set in Lambda function {config['LAMBDA_FUNCTION_NAME']!r}:"
            " the SQLite store would live on the container's ephemeral disk and lose users."
            " Set USERS_TABLE to the DynamoDB table's name (serverless.yml does: !Ref UsersTable)."
        )
    from app.store.sqlite import SqliteUserStore

    return SqliteUserStore(config["USERS_DB"], busy_timeout_ms=config["DB_BUSY_TIMEOUT_MS"])


def get_store() -> UserStore:
    store: UserStore = current_app.extensions["user_store"]
    return store
