"""The Flask user API from "How to return the status code in Flask", built by a factory."""

from __future__ import annotations

import os
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
        raise ConfigurationError(f"{name} must be a whole number of bytes, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value}")
    return value


def settings_from_env(instance_path: str) -> dict[str, Any]:
    return {
        "USERS_DB": os.environ.get("USERS_DB") or os.path.join(instance_path, "users.sqlite3"),
        "USERS_TABLE": os.environ.get("USERS_TABLE") or None,
        "MAX_CONTENT_LENGTH": env_int("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
        "DB_BUSY_TIMEOUT_MS": env_int("DB_BUSY_TIMEOUT_MS", 5000),
        # Lambda sets this; its presence means the local disk is ephemeral.
        "LAMBDA_FUNCTION_NAME": os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or None,
    }


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(settings_from_env(app.instance_path))
    if config:
        app.config.update(config)

    from app import problems, request_log, store, users

    # Registered first so that it runs last among after_request hooks and logs the final status.
    request_log.init_app(app)
    problems.init_app(app)
    store.init_app(app)
    app.register_blueprint(users.bp)
    return app
