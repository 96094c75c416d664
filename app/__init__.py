"""The Flask user API from "How to return the status code in Flask", built by a factory."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from flask import Flask

from app.store import ConfigurationError

DEFAULT_MAX_BODY_BYTES = 64 * 1024


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


# DynamoDB's rule for table names.
TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")


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
    return {
        "USERS_DB": os.environ.get("USERS_DB") or os.path.join(instance_path, "users.sqlite3"),
        "USERS_TABLE": table_name_from_env(),
        "MAX_CONTENT_LENGTH": env_int("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
        "DB_BUSY_TIMEOUT_MS": env_int("DB_BUSY_TIMEOUT_MS", 5000),
        # Lambda sets this; its presence means the local disk is ephemeral.
        "LAMBDA_FUNCTION_NAME": os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or None,
        # ...except under serverless-offline (IS_OFFLINE) and `osls invoke local` (IS_LOCAL),
        # which set it too but run on this machine, where an SQLite file is fine.
        # A Lambda runtime (AWS_LAMBDA_RUNTIME_API) is never emulated, whatever a deployer
        # put in the function's environment.
        "LAMBDA_EMULATED": (
            os.environ.get("IS_OFFLINE") == "true" or os.environ.get("IS_LOCAL") == "true"
        )
        and "AWS_LAMBDA_RUNTIME_API" not in os.environ,
    }


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    # Say the charset outright: some proxies (serverless-offline's hapi among them) append
    # it when missing, and a client should see the same Content-Type on every channel.
    app.json.mimetype = "application/json; charset=utf-8"  # type: ignore[attr-defined]
    app.config.from_mapping(settings_from_env(app.instance_path))
    if config:
        app.config.update(config)

    from app import metrics, page, problems, request_log, store, users

    # Registered first so that it runs last among after_request hooks and logs the final status.
    request_log.init_app(app)
    metrics.init_app(app)  # next to last: counts the final status
    problems.init_app(app)
    store.init_app(app)
    app.register_blueprint(users.bp)
    app.register_blueprint(page.bp)
    return app
