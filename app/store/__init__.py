"""User storage: one interface, two backends (SQLite locally, DynamoDB in AWS).

Like flaskr's ``db`` module, this module owns the store's lifecycle: ``init_app``
chooses and opens the backend once per process, ``get_store`` hands it to views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from flask import Flask, current_app


@dataclass(frozen=True, slots=True)
class UserRecord:
    """What GET /userDetails returns. Fields a user never gave are None."""

    username: str
    firstname: str | None
    lastname: str | None


class StoreError(Exception):
    """Base class for failures a backend reports to the views."""


class UsernameTaken(StoreError):
    """Sign-up lost to an existing account: the store's own uniqueness check decided."""


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
        """Create the account, or raise UsernameTaken. Exactly one concurrent caller wins.

        Details posted earlier for the same username do not count as an account.
        """

    def put_details(self, username: str, firstname: str | None, lastname: str) -> None:
        """Insert or replace the user's details (an upsert)."""

    def get_user(self, username: str) -> UserRecord | None:
        """Details merged with the account; None when neither exists."""


def init_app(app: Flask) -> None:
    app.extensions["user_store"] = open_store(app.config)


def open_store(config: dict) -> UserStore:
    from app.store.sqlite import SqliteUserStore

    return SqliteUserStore(config["USERS_DB"], busy_timeout_ms=config["DB_BUSY_TIMEOUT_MS"])


def get_store() -> UserStore:
    return current_app.extensions["user_store"]
