"""The app's settings, read from the process environment, and the error for bad ones."""

from __future__ import annotations

import os
import re
from typing import Any

from app.runtime import Runtime, current_runtime

DEFAULT_MAX_BODY_BYTES = 64 * 1024

# DynamoDB's rule for table names.
TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")


class ConfigurationError(RuntimeError):
    """The process is configured in a way that cannot serve requests correctly."""


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value}")
    return value


def table_name_from_env() -> str | None:
    raw = os.environ.get("USERS_TABLE") or None
    if raw is not None and not TABLE_NAME.fullmatch(raw):
        # serverless-offline passes an unresolved `!Ref UsersTable` as "[object Object]".
        raise ConfigurationError(
            f"USERS_TABLE must be a DynamoDB table name ({TABLE_NAME.pattern}), got {raw!r};"
            " an unresolved CloudFormation reference (!Ref) reads like '[object Object]'."
        )
    return raw


def settings_from_env(instance_path: str) -> dict[str, Any]:
    runtime = current_runtime()
    return {
        "USERS_DB": os.environ.get("USERS_DB") or os.path.join(instance_path, "users.sqlite3"),
        "USERS_TABLE": table_name_from_env(),
        "MAX_CONTENT_LENGTH": env_int("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
        "DB_BUSY_TIMEOUT_MS": env_int("DB_BUSY_TIMEOUT_MS", 5000),
        # Lambda sets this; its presence means the local disk is ephemeral...
        "LAMBDA_FUNCTION_NAME": os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or None,
        # ...except under the emulators, which set it too but run on this machine, where an
        # SQLite file is fine.
        "LAMBDA_EMULATED": runtime in (Runtime.SERVERLESS_OFFLINE, Runtime.INVOKE_LOCAL),
        # Every channel that reaches a Lambda runtime in AWS is HTTPS; the emulator and the
        # dev server are plain HTTP (app/response_headers.py: Strict-Transport-Security).
        "HTTPS_ONLY": runtime is Runtime.LAMBDA,
    }
