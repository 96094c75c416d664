"""SQLite backend: the embedded default for local runs and tests.

In Lambda each container has its own ephemeral /tmp, so this backend is for a
single machine only; the DynamoDB backend serves AWS.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
from typing import Any

from app.store import (
    FORGET_FAILURES_AFTER,
    AccountChanged,
    Failures,
    StoredUser,
    StoreUnavailable,
    UsernameTaken,
    user_key,
)

# One row per user (key = the lower-cased username). created_at is set once an account
# exists; a row without it holds details posted for a name nobody has signed up.
SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    key               TEXT PRIMARY KEY,
    username          TEXT NOT NULL,
    password_hash     TEXT,
    account_firstname TEXT,
    created_at        REAL,
    details_firstname TEXT,
    lastname          TEXT,
    updated_at        REAL,
    failed_logins     INTEGER NOT NULL DEFAULT 0,  -- unused since failures are per client
    failed_at         REAL
) WITHOUT ROWID;
-- Wrong passwords per account and client address, each row under the password it was a
-- guess at: a new hash (a change, an upgrade) leaves old rows unread, and they are deleted
-- with the next record. Erasing the user deletes its rows (the foreign key's cascade).
CREATE TABLE IF NOT EXISTS login_failures (
    key           TEXT NOT NULL REFERENCES users (key) ON DELETE CASCADE,
    client        TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    failed_logins INTEGER NOT NULL,
    failed_at     REAL NOT NULL,
    PRIMARY KEY (key, client)
) WITHOUT ROWID;
"""
# Columns added since the table was first created: a file made by an older version gets
# them when it is opened (ALTER TABLE ... ADD COLUMN keeps every row).
ADDED_COLUMNS = {
    "failed_logins": "INTEGER NOT NULL DEFAULT 0",
    "failed_at": "REAL",
}

# The WHERE clause makes the upsert conditional: a name that already has an account is
# left alone and the statement changes no row, which is how UsernameTaken is detected.
# A password sign-up (a claim) drops earlier details in the same statement.
CREATE_ACCOUNT = """
INSERT INTO users (key, username, password_hash, account_firstname, created_at)
VALUES (:k, :u, :h, :f, :t)
ON CONFLICT (key) DO UPDATE SET
    username          = excluded.username,
    password_hash     = excluded.password_hash,
    account_firstname = excluded.account_firstname,
    created_at        = excluded.created_at,
    details_firstname = CASE WHEN excluded.password_hash IS NULL THEN details_firstname END,
    lastname          = CASE WHEN excluded.password_hash IS NULL THEN lastname END,
    updated_at        = CASE WHEN excluded.password_hash IS NULL THEN updated_at END
WHERE users.created_at IS NULL
"""

# Conditional on the password hash the caller authorised against (IS: NULL-safe equality).
PUT_DETAILS = """
INSERT INTO users (key, username, details_firstname, lastname, updated_at)
VALUES (:k, :u, :f, :l, :t)
ON CONFLICT (key) DO UPDATE SET
    details_firstname = coalesce(excluded.details_firstname, details_firstname),
    lastname          = excluded.lastname,
    updated_at        = excluded.updated_at
WHERE users.password_hash IS :h
"""

# Counted only while :h is still the account's hash; a row older than :forget_before, or
# kept under an earlier password, starts over.
RECORD_FAILURE = """
INSERT INTO login_failures (key, client, password_hash, failed_logins, failed_at)
SELECT :k, :c, :h, 1, :t WHERE EXISTS (SELECT 1 FROM users WHERE key = :k AND password_hash = :h)
ON CONFLICT (key, client) DO UPDATE SET
    failed_logins = CASE WHEN password_hash = excluded.password_hash
                          AND failed_at > :forget_before THEN failed_logins + 1 ELSE 1 END,
    password_hash = excluded.password_hash,
    failed_at     = excluded.failed_at
"""
CLAIM_ATTEMPT = """
UPDATE login_failures SET failed_logins = :seen + 1, failed_at = :t
WHERE key = :k AND client = :c AND password_hash = :h AND failed_logins = :seen
  AND EXISTS (SELECT 1 FROM users WHERE key = :k AND password_hash = :h)
"""
CLEAR_FAILURES = "DELETE FROM login_failures WHERE key = :k AND client = :c AND password_hash = :h"
FORGET_FAILURES = """
DELETE FROM login_failures
WHERE key = :k AND (failed_at <= :forget_before OR password_hash IS NOT :h)
"""
GET_FAILURES = """
SELECT client, failed_logins, failed_at FROM login_failures
WHERE key = :k AND password_hash = :h AND failed_at > :forget_before
"""

GET_USER = """
SELECT username, coalesce(details_firstname, account_firstname), lastname,
       created_at IS NOT NULL, password_hash, failed_logins, failed_at
FROM users WHERE key = :k
"""


class SqliteUserStore:
    """One connection per thread (sqlite3 connections are not shareable), opened lazily."""

    def __init__(self, path: str, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._schema_ready = False

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        # Created readable by its owner only: it holds password hashes and personal data.
        # SQLite gives the -wal and -shm files the database file's permissions.
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        # isolation_level=None: each statement is its own transaction, so a writer
        # takes the write lock up front and waits for it under busy_timeout rather
        # than failing a read-to-write lock upgrade with "database is locked".
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")  # erasing a user deletes its failure rows
        if not self._schema_ready:
            self._prepare(conn)
            self._schema_ready = True
        conn.execute("PRAGMA synchronous = NORMAL")
        self._local.conn = conn
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL and create the schema, once per process.

        WAL lets readers proceed while one writer commits; the mode is stored in the
        file. Changing it needs an exclusive lock, and SQLite reports a conflict there
        at once instead of calling the busy handler, so processes that open a new
        file together retry here, within the same busy timeout.
        """
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript(SCHEMA)
                self._add_missing_columns(conn)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.002, 0.01))

    @staticmethod
    def _add_missing_columns(conn: sqlite3.Connection) -> None:
        present = {row[1] for row in conn.execute("PRAGMA table_info(users)")}
        for name, declaration in ADDED_COLUMNS.items():
            if name in present:
                continue
            try:
                conn.execute(f"ALTER TABLE users ADD COLUMN {name} {declaration}")
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):  # another process added it first
                    raise

    def _run_together(self, *statements: tuple[str, dict[str, Any]]) -> list[sqlite3.Cursor]:
        """Run the statements in one transaction: all of them take effect, or none."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cursors = [conn.execute(sql, params) for sql, params in statements]
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc
        return cursors

    def _run(self, sql: str, params: dict[str, Any]) -> sqlite3.Cursor:
        try:
            return self._connect().execute(sql, params)
        except sqlite3.OperationalError as exc:
            # Locked past the busy timeout, disk full, unreadable file: nothing was
            # committed (each statement is atomic), so the client may retry.
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    def create_account(
        self, username: str, password_hash: str | None, firstname: str | None
    ) -> None:
        cursor = self._run(
            CREATE_ACCOUNT,
            {
                "k": user_key(username),
                "u": username,
                "h": password_hash,
                "f": firstname,
                "t": time.time(),
            },
        )
        if cursor.rowcount == 0:
            # The PRIMARY KEY and the WHERE clause decide in one statement: no read-then-write.
            raise UsernameTaken(username)

    def put_details(
        self,
        username: str,
        firstname: str | None,
        lastname: str,
        *,
        expected_hash: str | None,
        client: str | None = None,
    ) -> None:
        key = user_key(username)
        details = {
            "k": key,
            "u": username,
            "f": firstname,
            "l": lastname,
            "t": time.time(),
            "h": expected_hash,
        }
        statements = [(PUT_DETAILS, details)]
        if expected_hash is not None and client is not None:
            statements.append((CLEAR_FAILURES, {"k": key, "c": client, "h": expected_hash}))
        upsert, *_ = self._run_together(*statements)
        if upsert.rowcount == 0:
            raise AccountChanged(username)

    def erase_user(self, username: str, *, expected_hash: str | None) -> None:
        cursor = self._run(
            "DELETE FROM users WHERE key = :k AND password_hash IS :h",
            {"k": user_key(username), "h": expected_hash},
        )
        if cursor.rowcount == 0:
            raise AccountChanged(username)

    def get_user(self, username: str) -> StoredUser | None:
        key = user_key(username)
        row = self._run(GET_USER, {"k": key}).fetchone()
        if row is None:
            return None
        spelling, firstname, lastname, has_account, password_hash, _, _ = row
        failures: dict[str, Failures] = {}
        if password_hash is not None:
            forget_before = time.time() - FORGET_FAILURES_AFTER
            params = {"k": key, "h": password_hash, "forget_before": forget_before}
            for client, count, at in self._run(GET_FAILURES, params):
                failures[client] = Failures(count, at)
        return StoredUser(
            spelling, firstname, lastname, bool(has_account), password_hash, failures=failures
        )

    def change_password_hash(self, username: str, old_hash: str, new_hash: str) -> None:
        cursor = self._run(
            "UPDATE users SET password_hash = :new WHERE key = :k AND password_hash = :old",
            {"k": user_key(username), "old": old_hash, "new": new_hash},
        )
        if cursor.rowcount == 0:
            raise AccountChanged(username)

    def replace_password_hash(self, username: str, old_hash: str, new_hash: str) -> None:
        with contextlib.suppress(AccountChanged):  # a concurrent change stands
            self.change_password_hash(username, old_hash, new_hash)

    def record_failed_login(self, user: StoredUser, client: str, at: float) -> None:
        params = {
            "k": user_key(user.username),
            "c": client,
            "h": user.password_hash,
            "t": at,
            "forget_before": at - FORGET_FAILURES_AFTER,
        }
        self._run_together((RECORD_FAILURE, params), (FORGET_FAILURES, params))

    def claim_login_attempt(self, user: StoredUser, client: str, at: float) -> bool:
        params = {
            "k": user_key(user.username),
            "c": client,
            "h": user.password_hash,
            "seen": user.failures_from(client).count,
            "t": at,
        }
        return self._run(CLAIM_ATTEMPT, params).rowcount == 1

    def clear_failed_logins(self, username: str, password_hash: str, client: str) -> None:
        self._run(CLEAR_FAILURES, {"k": user_key(username), "c": client, "h": password_hash})
