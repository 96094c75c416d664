"""User storage: one interface, two backends (SQLite locally, DynamoDB in AWS).

Like flaskr's ``db`` module, this module owns the store's lifecycle: ``init_app``
chooses and opens the backend once per process, ``get_store`` hands it to views.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import Flask, current_app


def user_key(username: str) -> str:
    """One identity per name whatever its case: 'Sam', 'SAM' and 'sam' are one user.

    Usernames are ASCII (app/validation.py), so lower() is the full case fold.
    """
    return username.lower()


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
    # Wrong passwords given for the account since its last right one, and when the last
    # came (epoch seconds): app/auth.py makes guessing wait (login_wait).
    failed_logins: int = field(default=0, compare=False)
    failed_at: float | None = field(default=None, compare=False)

    @property
    def protected(self) -> bool:
        return self.password_hash is not None


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


class ConfigurationError(RuntimeError):
    """The process is configured in a way that cannot serve requests correctly."""


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
        self, username: str, firstname: str | None, lastname: str, *, expected_hash: str | None
    ) -> None:
        """Insert or replace the user's details (an upsert), only while the account's password
        hash is still ``expected_hash`` (None: no account, or an open one); otherwise raise
        AccountChanged and write nothing. A write authorised by a password clears the
        count of wrong ones (app/auth.py)."""

    def replace_password_hash(self, username: str, old_hash: str, new_hash: str) -> None:
        """Swap in a stronger hash of the same password, only if ``old_hash`` is still the
        stored one (a concurrent change wins; this is an optimisation, never an error).
        It follows a right password, so it also clears the failed logins."""

    def record_failed_login(self, username: str, password_hash: str, at: float) -> None:
        """Count one wrong password against the account and stamp its time ``at`` (epoch
        seconds, by app/auth.py's clock, which also judges the wait), only while
        ``password_hash`` is still its hash (one atomic increment: concurrent guesses all
        count)."""

    def claim_login_attempt(self, username: str, password_hash: str, seen: int, at: float) -> bool:
        """Count an attempt before checking it: the count becomes ``seen`` + 1, stamped
        ``at``, only while it is still ``seen`` and the hash still ``password_hash``. False
        when another attempt got there first (or the hash changed): nothing is written."""

    def clear_failed_logins(self, username: str, password_hash: str) -> None:
        """Forget the failed logins after a right password, only while ``password_hash`` is
        still the account's hash."""


def init_app(app: Flask) -> None:
    app.extensions["user_store"] = open_store(app.config)


def open_store(config: Mapping[str, Any]) -> UserStore:
    """DynamoDB when USERS_TABLE is set, else SQLite, which is refused inside Lambda."""
    table = config.get("USERS_TABLE")
    if table:
        # Imported only here: boto3 comes with the Lambda runtime, not requirements.txt,
        # and SQLite runs should not pay for importing it.
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
