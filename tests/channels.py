"""Channels: ways to deliver an HttpRequest to the app and read what the client gets."""

from __future__ import annotations

import http.client
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from flask import Flask

from tests import processes
from tests.contract import Channel
from tests.events import EventKind, assert_real_shape, build_event, read_result
from tests.http_types import HttpRequest, HttpResponse
from tests.net import free_port

REPO = Path(__file__).resolve().parent.parent


@dataclass
class LambdaContext:
    """The attributes of the runtime's context object that code here reads."""

    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "flask-user-api-dev-api"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:api"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def flask_client_channel(app: Flask) -> Channel:
    client = app.test_client()

    def send(request: HttpRequest) -> HttpResponse:
        response = client.open(
            request.path,
            method=request.method,
            query_string=list(request.query),
            headers=list(request.headers),
            data=request.body,
        )
        return HttpResponse(response.status_code, list(response.headers.items()), response.data)

    return send


def lambda_channel(
    invoke: Callable[[dict[str, Any]], Any], kind: EventKind, *, base64_body: bool | None
) -> Channel:
    """Build the real-shaped event, invoke, and read the result as the client would."""

    def send(request: HttpRequest) -> HttpResponse:
        event = build_event(kind, request, base64_body=base64_body)
        assert_real_shape(kind, event)
        return read_result(invoke(event), kind)

    return send


def handler_invoke(event: dict[str, Any]) -> Any:
    import handler

    return handler.handler(event, LambdaContext())


TRANSPORT_HEADERS = frozenset({"server", "date", "connection", "keep-alive"})


def http_channel(base_url: str) -> Channel:
    """Real HTTP over a socket, as curl would send it."""
    parts = urlsplit(base_url)

    def send(request: HttpRequest) -> HttpResponse:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        target = quote(request.path)
        if request.query:
            target += "?" + urlencode(request.query)
        try:
            connection.request(
                request.method, target, body=request.body or None, headers=dict(request.headers)
            )
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        headers = [(k, v) for k, v in response.getheaders() if k.lower() not in TRANSPORT_HEADERS]
        return HttpResponse(response.status, headers, body)

    return send


@contextmanager
def dev_server(env: dict[str, str]) -> Iterator[str]:
    """Flask's development server in a child process, on a free loopback port."""
    port = free_port()
    command = [sys.executable, "-m", "flask", "--app", "app", "run"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with processes.server(command, port=port, cwd=REPO, env={**os.environ, **env}):
        yield f"http://127.0.0.1:{port}"
