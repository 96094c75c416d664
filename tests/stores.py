"""The store backends under test, built the way the app builds them."""

from __future__ import annotations

from pathlib import Path

from app.store import UserStore
from app.store.sqlite import SqliteUserStore

BACKENDS = ("sqlite",)


def open_backend(backend: str, workdir: Path) -> UserStore:
    if backend == "sqlite":
        return SqliteUserStore(str(workdir / "users.sqlite3"))
    raise ValueError(backend)


def app_config(backend: str, workdir: Path) -> dict[str, str]:
    """create_app() overrides that select this backend."""
    if backend == "sqlite":
        return {"USERS_DB": str(workdir / "users.sqlite3")}
    raise ValueError(backend)
