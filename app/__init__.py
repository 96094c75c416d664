"""The Flask user API from "How to return the status code in Flask", built by a factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from app.config import settings_from_env


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    # Say the charset outright: some proxies (serverless-offline's hapi among them) append
    # it when missing, and a client should see the same Content-Type on every channel.
    app.json.mimetype = "application/json; charset=utf-8"  # type: ignore[attr-defined]
    app.config.from_mapping(settings_from_env(app.instance_path))
    if config:
        app.config.update(config)

    from app import page, problems, request_log, response_headers, store, users

    # Registered first so that it runs last among after_request hooks and logs the final status.
    request_log.init_app(app)
    # Next, so that it runs after every view's and blueprint's own hooks.
    response_headers.init_app(app)
    problems.init_app(app)
    store.init_app(app)
    app.register_blueprint(users.bp)
    app.register_blueprint(page.bp)
    return app
