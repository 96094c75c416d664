"""Property-based: whatever arrives, the handler answers with a well-formed response.

The ``ci`` hypothesis profile (the default, see conftest) runs a few hundred derandomized
examples per test: the same examples on every run, so CI is deterministic. ``make fuzz``
explores with many fresh random examples.
"""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st

import handler
from lambda_edge import EventKind
from tests.channels import LambdaContext
from tests.events import EVENT_KINDS, build_event, read_result
from tests.http_types import HttpRequest

# Hypothesis' text() never yields lone surrogates, which a JSON event can carry.
awkward_text = st.sampled_from(["\ud800", "a\udfffb", "\u202e", "\x00", "\u0085", "%FF", "\ufeff"])
text = (
    st.text(max_size=20) | awkward_text | st.tuples(st.text(max_size=8), awkward_text).map("".join)
)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | text
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)

TOKEN = st.text(
    alphabet="!#$%&'*+-.^_`|~ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    min_size=1,
    max_size=12,
)
# What a client controls: method, path, query, headers and body, each arbitrary.
# CR, LF and NUL included: the guard must refuse them with a 400, never a 500.
header_values = st.text(st.characters(exclude_categories=("Cs",)), max_size=40) | st.sampled_from(
    ["a\r\nSet-Cookie: x=1", "\n", "a\x00b", "\r"]
)
HEADER_NAMES = [
    *("Content-Type", "Accept", "Cookie", "X-Forwarded-For", "Host"),
    *("Transfer-Encoding", "Content-Length", "X-Forwarded-Port"),
]
usernames = st.from_regex(r"[A-Za-z0-9_.@-]{1,64}", fullmatch=True) | text
# Mostly-valid documents, so that the values after a valid username get checked too.
documents = st.fixed_dictionaries(
    {"username": usernames},
    optional={field: text | json_values for field in ("firstname", "lastname", "password", "x")},
)
json_bodies = documents.map(
    lambda document: json.dumps(document).encode()  # ensure_ascii: surrogates as \ud800 escapes
)
form_bodies = documents.map(
    lambda document: urlencode(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in document.items()},
        encoding="utf-8",
        errors="surrogatepass",
    ).encode()
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "text/plain",
    ]
)
arbitrary_requests = st.builds(
    HttpRequest,
    method=st.sampled_from(["GET", "POST", "PUT", "OPTIONS", "HEAD", "DELETE", "PATCH"]) | TOKEN,
    path=st.sampled_from(["/userDetails", "/userSignUp", "/"])
    | st.text(max_size=30).map(lambda p: "/" + p),
    query=st.lists(st.tuples(st.text(max_size=10), st.text(max_size=20)), max_size=3).map(tuple),
    headers=st.tuples(
        st.lists(content_types.map(lambda t: ("Content-Type", t)), max_size=1),
        st.lists(
            st.tuples(
                st.sampled_from(HEADER_NAMES) | TOKEN,
                header_values,
            ),
            max_size=5,
        ),
    ).map(lambda parts: tuple(parts[0] + parts[1])),
    body=json_bodies
    | form_bodies
    | st.binary(max_size=200)
    | st.sampled_from(
        [b"username=sam&lastname=king", b'{"username": "sam"}', b"{", b"\xff\xfe", b""]
    ),
)
api_paths = st.sampled_from(["/userDetails", "/userSignUp"])
# Well-aimed requests too: arbitrary ones rarely reach validation and the store.
json_requests = st.builds(
    lambda path, body: HttpRequest(
        "POST", path, headers=(("Content-Type", "application/json"),), body=body
    ),
    api_paths,
    json_bodies,
)
form_requests = st.builds(
    lambda path, body: HttpRequest(
        "POST",
        path,
        headers=(("Content-Type", "application/x-www-form-urlencoded"),),
        body=body,
    ),
    api_paths,
    form_bodies,
)
client_requests = arbitrary_requests | json_requests | form_requests


@given(json_values)
def test_any_json_value_gets_a_well_formed_answer(event: Any) -> None:
    result = handler.handler(event, LambdaContext())
    read_result(result)
    assert result["statusCode"] in (204, 400)


@given(
    st.sampled_from(EVENT_KINDS),
    client_requests,
    st.booleans(),
    st.lists(
        st.tuples(
            st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=3),
            st.none() | st.text(max_size=10),
            json_values | st.just(...),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_events_get_a_well_formed_answer(
    kind: EventKind,
    request: HttpRequest,
    base64_body: bool,
    mutations: list[tuple[list[int], str | None, Any]],
) -> None:
    """Real events with keys deleted (``...``), replaced or added with arbitrary JSON,
    at any depth."""
    event = build_event(kind, request, base64_body=base64_body)
    for path, new_key, value in mutations:
        mutate(event, path, new_key, value)
    result = handler.handler(event, LambdaContext())
    read_result(result)  # the kind may have been mutated away: check the shape any channel takes
    assert result["statusCode"] < 500, result  # a 500 here would be a bug in the edge


def mutate(event: dict[str, Any], path: list[int], new_key: str | None, value: Any) -> None:
    """Walk ``path`` (indexes into each dict's keys), then change one key there."""
    target: Any = event
    for index in path[:-1]:
        keys = list(target)
        if not keys or not isinstance(target[keys[index % len(keys)]], dict):
            break
        target = target[keys[index % len(keys)]]
    keys = list(target)
    key = new_key if new_key is not None or not keys else keys[path[-1] % len(keys)]
    if value is ...:
        target.pop(key, None)
    else:
        target[key] = copy.deepcopy(value)


@given(st.sampled_from(EVENT_KINDS), client_requests, st.booleans())
def test_anything_a_client_sends_gets_no_5xx(
    kind: EventKind, request: HttpRequest, base64_body: bool
) -> None:
    result = handler.handler(build_event(kind, request, base64_body=base64_body), LambdaContext())
    read_result(result, kind)
    assert result["statusCode"] < 500, result
