"""schemathesis holds the service to openapi.yaml: in-process through handler.handler on
HTTP API v2 events, and over HTTP against serverless-offline (what `make run` serves).

Every check schemathesis has runs on every generated request (status codes, content
types, headers and bodies as the spec declares them, valid data accepted and invalid data
refused, methods the spec does not list answered 405 with Allow, ...). Generation is
seeded and derandomized with a bounded number of examples per operation and phase, so a
commit that passes once passes again; `make fuzz` is where fresh random examples belong.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from requests.adapters import HTTPAdapter
from schemathesis.config import SchemathesisConfig
from urllib3 import HTTPHeaderDict, HTTPResponse

from scripts.openapi import OPENAPI_YAML
from tests.channels import handler_invoke
from tests.events import EventKind, assert_real_shape, build_event, read_result
from tests.http_types import HttpRequest
from tests.offline_server import start_offline
from tests.test_openapi import served_paths

# `make test` (the ci profile): seeded and derandomized, the same requests on every run.
# `make fuzz`: fresh random requests, more of them, for exploring (never in CI).
FUZZ = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
SEED = 20261125
# Per operation, in schemathesis' fuzzing phase (its examples and coverage phases add theirs).
EXAMPLES = 200 if FUZZ else 50
# What `make run` serves, and what API Gateway's default front door sends.
KIND: EventKind = "http_api_v2"
LAMBDA_ORIGIN = "https://lambda.invalid"
# The methods API Gateway passes to a function (Powertools' event models list the same).
API_GATEWAY_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"})

CONFIG = SchemathesisConfig.from_dict(
    {} if FUZZ else {"seed": SEED, "generation": {"deterministic": True}}
)
# The file clients read; tests/test_openapi.py holds it equal to what the code generates.
schema = schemathesis.openapi.from_path(OPENAPI_YAML, config=CONFIG)
if "/" not in served_paths():
    # The page (GET /) is described but lands with its own branch; until then the app
    # answers 404 there. tests/test_openapi.py says which described paths are not served.
    schema = schema.exclude(path="/")

BOUNDED = settings(
    max_examples=EXAMPLES,
    derandomize=not FUZZ,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


class LambdaAdapter(HTTPAdapter):
    """A requests transport whose far end is handler.handler: each request becomes a
    real-shaped Lambda event, and the Lambda result the response the client would get."""

    def __init__(self, kind: EventKind) -> None:
        super().__init__()
        self.kind = kind

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        url = urlsplit(request.url or "")
        body = request.body or b""
        method = request.method or "GET"
        event = build_event(
            self.kind,
            HttpRequest(
                method,
                unquote(url.path),
                query=tuple(parse_qsl(url.query, keep_blank_values=True)),
                headers=tuple(request.headers.items()),
                body=body.encode() if isinstance(body, str) else bytes(body),
            ),
            base64_body=None,
        )
        if method in API_GATEWAY_METHODS:
            assert_real_shape(self.kind, event)
        # else (TRACE, say): API Gateway itself refuses it, but the handler must still
        # answer it well, as it answers any event.
        answer = read_result(handler_invoke(event), self.kind)
        raw = HTTPResponse(
            body=io.BytesIO(answer.body),
            headers=HTTPHeaderDict(answer.headers),
            status=answer.status,
            version=11,
            preload_content=False,
        )
        return self.build_response(request, raw)


@pytest.fixture(scope="module")
def lambda_session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.mount(LAMBDA_ORIGIN, LambdaAdapter(KIND))
        yield session


@schema.parametrize()
@BOUNDED
def test_handler_in_process(case: schemathesis.Case, lambda_session: requests.Session) -> None:
    case.call_and_validate(base_url=LAMBDA_ORIGIN, session=lambda_session)


@pytest.fixture(scope="module")
def offline_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("schemathesis-offline") / "users.sqlite3"
    with start_offline(env={"USERS_DB": str(db)}) as url:
        yield url


@pytest.mark.slow
@schema.parametrize()
@BOUNDED
def test_emulator(case: schemathesis.Case, offline_url: str) -> None:
    case.call_and_validate(base_url=offline_url)
