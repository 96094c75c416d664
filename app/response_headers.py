"""The app's side of the response-header policy (lambda_edge/header_policy.py): one
after-request hook applies it to every answer, errors included."""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from lambda_edge.header_policy import AppAnswer, HeaderPolicy, vary_of


def header_policy(app: Flask) -> HeaderPolicy:
    policy: HeaderPolicy = app.extensions["header_policy"]
    return policy


def add_response_headers(response: Response) -> Response:
    answer = AppAnswer(
        method=request.method,
        path=request.path,
        status=response.status_code,
        routed=request.url_rule is not None,
    )
    response.headers.update(header_policy(current_app).app_answer(answer))
    for name in sorted(vary_of(answer)):
        response.vary.add(name)
    return response


def init_app(app: Flask) -> None:
    app.extensions["header_policy"] = HeaderPolicy(https_only=app.config["HTTPS_ONLY"])
    app.after_request(add_response_headers)
