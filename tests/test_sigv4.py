"""app/store/sigv4.py: AWS's own signing test suite, and botocore's signer on random requests.

Local DynamoDB servers do not check signatures, so these tests (and the IAM-enforced run
against moto, tests/test_dynamodb_iam.py) are what prove the signer right.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import string
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from app.store.sigv4 import Credentials, sign

SUITE = Path(__file__).parent / "data" / "aws-sig-v4-test-suite"
CASES = sorted(path.name for path in SUITE.iterdir() if path.is_dir())


def parse_request(
    text: str,
) -> tuple[str, str, list[tuple[str, str]], list[tuple[str, str]], bytes]:
    """request.txt: the request line, headers (a line starting with whitespace continues
    the value before it: an obsolete line folding), a blank line, the body."""
    lines = text.split("\n")
    blank = lines.index("") if "" in lines else len(lines)
    request_line, *header_lines = lines[:blank]
    body = "\n".join(lines[blank + 1 :])
    method, _, target = request_line.removesuffix(" HTTP/1.1").partition(" ")
    path, _, query_text = target.partition("?")
    query = [
        (unquote(name), unquote(value))
        for name, _, value in (pair.partition("=") for pair in query_text.split("&") if pair)
    ]
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        if line[:1].isspace():
            name, value = headers.pop()
            headers.append((name, f"{value} {line}"))
        else:
            name, _, value = line.partition(":")
            headers.append((name, value))
    return method, path, query, headers, body.encode()


@pytest.mark.parametrize("case", CASES)
def test_the_aws_signing_test_suite(case: str) -> None:
    folder = SUITE / case
    context = json.loads((folder / "context.json").read_text())
    method, path, query, headers, body = parse_request((folder / "request.txt").read_text())
    if context["sign_body"]:  # the suite's variant that sends the payload hash as a header
        headers.append(("x-amz-content-sha256", hashlib.sha256(body).hexdigest()))
    given_credentials = context["credentials"]
    signature = sign(
        method=method,
        path=path,
        query=query,
        headers=headers,
        body=body,
        credentials=Credentials(
            given_credentials["access_key_id"],
            given_credentials["secret_access_key"],
            given_credentials.get("token"),
        ),
        region=context["region"],
        service=context["service"],
        moment=datetime.datetime.fromisoformat(context["timestamp"]),
    )
    expected = (folder / "header-canonical-request.txt").read_text()
    assert signature.canonical_request == expected
    assert signature.string_to_sign == (folder / "header-string-to-sign.txt").read_text()
    assert signature.signature == (folder / "header-signature.txt").read_text().strip()


def test_the_suite_is_all_there() -> None:
    assert len(CASES) >= 25 and "get-vanilla-with-session-token" in CASES


# ---------------------------------------------------------------- botocore, randomized

TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
header_names = st.text(TOKEN_CHARS, min_size=1, max_size=20).filter(
    lambda name: (
        name.lower()
        not in {
            "authorization",
            "x-amz-date",
            "x-amz-security-token",
            "host",
            "x-amz-content-sha256",
        }
    )
)
# Any text a header can carry on the wire: printable, inner whitespace runs, unicode.
header_values = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r\n")
    | st.sampled_from(" \t"),
    max_size=40,
)
regions = st.sampled_from(
    ["us-east-1", "eu-west-1", "ap-southeast-7", "us-gov-west-1", "cn-north-1", "il-central-1"]
) | st.from_regex(r"[a-z]{2}-[a-z]{4,9}-[1-9]", fullmatch=True)
# DynamoDB's path is always "/"; paths of unreserved characters with dot segments test the
# normalisation, which both signers apply.
path_segments = st.sampled_from(["", ".", "..", "a", "b-c", "d_e.f~g"])
paths = st.lists(path_segments, max_size=5).map(lambda parts: "/" + "/".join(parts))
secrets_ = st.text(string.ascii_letters + string.digits + "/+=", min_size=1, max_size=40)
tokens = st.none() | st.text(string.ascii_letters + string.digits + "/+=", min_size=1, max_size=80)
moments = st.datetimes(
    min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2099, 12, 31)
).map(lambda moment: moment.replace(microsecond=0))


@settings(max_examples=500)
@given(
    headers=st.lists(st.tuples(header_names, header_values), max_size=6),
    body=st.binary(max_size=200) | st.text(max_size=100).map(str.encode),
    region=regions,
    service=st.sampled_from(["dynamodb", "sts", "service"]),
    path=paths,
    access_key=st.text(string.ascii_uppercase + string.digits, min_size=16, max_size=20),
    secret=secrets_,
    token=tokens,
    moment=moments,
)
def test_signatures_equal_botocores(
    monkeypatch_botocore_clock: Any,
    headers: list[tuple[str, str]],
    body: bytes,
    region: str,
    service: str,
    path: str,
    access_key: str,
    secret: str,
    token: str | None,
    moment: datetime.datetime,
) -> None:
    host = f"{service}.{region}.amazonaws.com"
    # botocore keeps one value per header name; repeated names are checked by the suite.
    unique = list({name.lower(): (name, value) for name, value in headers}.values())
    request = AWSRequest(
        method="POST", url=f"https://{host}{path}", data=body, headers=dict(unique)
    )
    monkeypatch_botocore_clock[0] = moment
    SigV4Auth(BotocoreCredentials(access_key, secret, token), service, region).add_auth(request)
    ours = sign(
        method="POST",
        path=path,
        query=[],
        headers=[("Host", host), *unique],
        body=body,
        credentials=Credentials(access_key, secret, token),
        region=region,
        service=service,
        moment=moment.replace(tzinfo=datetime.UTC),
    )
    assert ours.headers["Authorization"] == request.headers["Authorization"]
    assert ours.headers["X-Amz-Date"] == request.headers["X-Amz-Date"]
    assert ours.headers.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")


@pytest.fixture(scope="module")
def monkeypatch_botocore_clock() -> Any:
    """botocore's signer reads the clock itself; this makes it read the test's moment."""
    import botocore.auth

    now: list[datetime.datetime] = [datetime.datetime(2015, 8, 30, 12, 36)]
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda *_, **__: now[0]
    try:
        yield now
    finally:
        botocore.auth.get_current_datetime = original
