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

from app.store import StoreUnavailable, UsernameTaken, UserRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    username      TEXT PRIMARY KEY,
    password_hash TEXT,
    firstname     TEXT,
    created_at    REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS details (
    username   TEXT PRIMARY KEY,
    firstname  TEXT,
    lastname   TEXT NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
"""

GET_USER = """
SELECT
    (SELECT firstname FROM details  WHERE username = :u),
    (SELECT lastname  FROM details  WHERE username = :u),
    (SELECT firstname FROM accounts WHERE username = :u),
    EXISTS (SELECT 1 FROM details  WHERE username = :u)
        OR EXISTS (SELECT 1 FROM accounts WHERE username = :u)
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
            os.makedirs(directory, exist_ok=True)
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
        except sqlite3.IntegrityError:
            raise
        except sqlite3.OperationalError as exc:
            # Locked past the busy timeout, disk full, unreadable file: nothing was
            # committed (each statement is atomic), so the client may retry.
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    def create_account(
        self, username: str, password_hash: str | None, firstname: str | None
    ) -> None:
        try:
            self._run(
                "INSERT INTO accounts (username, password_hash, firstname, created_at)"
                " VALUES (:u, :h, :f, :t)",
                {"u": username, "h": password_hash, "f": firstname, "t": time.time()},
            )
        except sqlite3.IntegrityError as exc:
            # The PRIMARY KEY constraint is the arbiter: no read-then-write race.
            raise UsernameTaken(username) from exc

    def put_details(self, username: str, firstname: str | None, lastname: str) -> None:
        self._run(
            "INSERT INTO details (username, firstname, lastname, updated_at)"
            " VALUES (:u, :f, :l, :t)"
            " ON CONFLICT (username) DO UPDATE SET"
            "   firstname  = coalesce(excluded.firstname, details.firstname),"
            "   lastname   = excluded.lastname,"
            "   updated_at = excluded.updated_at",
            {"u": username, "f": firstname, "l": lastname, "t": time.time()},
        )

    def get_user(self, username: str) -> UserRecord | None:
        first, last, account_first, exists = self._run(GET_USER, {"u": username}).fetchone()
        if not exists:
            return None
        return UserRecord(username, first if first is not None else account_first, last)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
