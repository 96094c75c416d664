"""SQLite backend: the embedded default for local runs and tests.

In Lambda each container has its own ephemeral /tmp, so this backend is for a
single machine only; the DynamoDB backend serves AWS.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time

from app.store import AccountChanged, StoredUser, StoreUnavailable, UsernameTaken, user_key

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
    updated_at        REAL
) WITHOUT ROWID;
"""

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

GET_USER = """
SELECT username, coalesce(details_firstname, account_firstname), lastname,
       created_at IS NOT NULL, password_hash
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
        conn = getattr(self._local, "conn", None)
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
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.002, 0.01))

    def _run(self, sql: str, params: dict) -> sqlite3.Cursor:
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
        self, username: str, firstname: str | None, lastname: str, *, expected_hash: str | None
    ) -> None:
        cursor = self._run(
            PUT_DETAILS,
            {
                "k": user_key(username),
                "u": username,
                "f": firstname,
                "l": lastname,
                "t": time.time(),
                "h": expected_hash,
            },
        )
        if cursor.rowcount == 0:
            raise AccountChanged(username)

    def get_user(self, username: str) -> StoredUser | None:
        row = self._run(GET_USER, {"k": user_key(username)}).fetchone()
        if row is None:
            return None
        spelling, firstname, lastname, has_account, password_hash = row
        return StoredUser(spelling, firstname, lastname, bool(has_account), password_hash)

    def replace_password_hash(self, username: str, old_hash: str, new_hash: str) -> None:
        self._run(
            "UPDATE users SET password_hash = :new WHERE key = :k AND password_hash = :old",
            {"k": user_key(username), "old": old_hash, "new": new_hash},
        )
