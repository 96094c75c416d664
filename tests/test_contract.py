"""The contract table through every in-process channel and the dev server.

Each channel must give the status, body and headers the table promises, which is
what the Flask view returned; event channels are also compared header-for-header
with the Flask test client.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.channels import (
    TRANSPORT_HEADERS,
    dev_server,
    flask_client_channel,
    handler_invoke,
    http_channel,
    lambda_channel,
)
from tests.contract import CASES, Case, Channel, run_case, unique_user
from tests.events import EVENT_KINDS
from tests.http_types import HttpResponse

CASE_IDS = [case.name for case in CASES]


def comparable(response: HttpResponse) -> list[tuple[str, str]]:
    return sorted((k.lower(), v) for k, v in response.headers if k.lower() not in TRANSPORT_HEADERS)


@pytest.fixture(scope="module")
def reference() -> Channel:
    import handler

    return flask_client_channel(handler.app)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_flask_test_client(case: Case, reference: Channel) -> None:
    run_case(reference, case)


@pytest.mark.parametrize("base64_body", [False, True], ids=["plain", "base64"])
@pytest.mark.parametrize("kind", EVENT_KINDS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_lambda_handler(case: Case, kind: str, base64_body: bool, reference: Channel) -> None:
    user = unique_user()
    response = run_case(lambda_channel(handler_invoke, kind, base64_body=base64_body), case, user)
    # Same-length username, so even Content-Length must match the test client exactly.
    expected = run_case(reference, case, unique_user())
    assert comparable(response) == comparable(expected)


@pytest.fixture(scope="module")
def dev_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("dev-server") / "users.sqlite3"
    with dev_server({"USERS_DB": str(db)}) as url:
        yield url


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_dev_server(case: Case, dev_server_url: str) -> None:
    run_case(http_channel(dev_server_url), case)
