"""Reading the parts of an event, accepting only what HTTP allows.

Every reader returns the value it checked or raises :class:`RejectedEvent` with a
detail that names the part of the event at fault (``'headers' value for 'X-Note'
contains CR, LF or NUL.``). What is accepted, and nothing else:

- methods and header names: RFC 9110 tokens;
- header values, query names and values, cookies: valid Unicode without CR, LF or NUL
  (RFC 9110 5.5; werkzeug raises on them, which would be a 500);
- paths: valid Unicode starting with ``/``;
- bodies: a string (or null), base64 when flagged so.

Lone surrogates (which a JSON event can carry but UTF-8 cannot encode) are refused
everywhere, since serverless-wsgi and werkzeug crash on them.
"""

from __future__ import annotations

import base64
import binascii
import re
import string
from typing import Any

from lambda_edge.base import grouped_by_name

# RFC 9110 token: what a method or a header field name may be.
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
FORBIDDEN_IN_FIELD = re.compile(r"[\r\n\x00]")
SURROGATE = re.compile(r"[\ud800-\udfff]")


class RejectedEvent(Exception):
    """The event cannot be served as an HTTP request; ``detail`` says why."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def is_text(value: Any) -> bool:
    # isascii() is a flag check in CPython; only non-ASCII text needs the search.
    return type(value) is str and (value.isascii() or not SURROGATE.search(value))


def is_field_value(value: Any) -> bool:
    return is_text(value) and not FORBIDDEN_IN_FIELD.search(value)


def need_dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RejectedEvent(f"'{name}' must be an object.")
    return value


def optional_dict(value: Any, name: str) -> dict[str, Any]:
    return {} if value is None else need_dict(value, name)


def need_str(value: Any, name: str) -> str:
    if not is_text(value):
        raise RejectedEvent(f"'{name}' must be a string of valid Unicode.")
    return str(value)


def need_field_str(value: Any, name: str) -> str:
    """A string carried into a request line or header (a raw query string)."""
    text = "" if value is None else need_str(value, name)
    if FORBIDDEN_IN_FIELD.search(text):
        raise RejectedEvent(f"'{name}' contains CR, LF or NUL.")
    return text


def need_path(value: Any, name: str) -> str:
    if not is_text(value) or not value.startswith("/"):
        raise RejectedEvent(f"'{name}' must be a string of valid Unicode starting with '/'.")
    return str(value)


# Characters whose percent-escape is only another spelling of them (RFC 3986 2.3), and "/",
# whose escape werkzeug decodes into a separator all the same.
SAME_WHEN_ESCAPED = frozenset(string.ascii_letters + string.digits + "-._~/")
ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


def canonical_spelling(path: str) -> str:
    """The path with escapes of SAME_WHEN_ESCAPED characters decoded, and empty ("//") and
    dot segments removed: the one spelling an API Gateway route matches."""
    decoded = ESCAPE.sub(
        lambda m: chr(int(m[1], 16)) if chr(int(m[1], 16)) in SAME_WHEN_ESCAPED else m[0], path
    )
    segments: list[str] = []
    parts = decoded.split("/")[1:]
    for index, segment in enumerate(parts):
        if segment == ".." and segments:
            segments.pop()
        elif segment not in (".", "..") and (segment or index == len(parts) - 1):
            segments.append(segment)
    return "/" + "/".join(segments)


def need_canonical_path(value: Any, name: str) -> str:
    """A path spelt the one way a route matches it: another spelling of a route's path
    (``//userSignUp``, ``/user%53ignUp``) would reach it through the catch-all route, past
    the throttle API Gateway keeps on the route of its own."""
    path = need_path(value, name)
    canonical = canonical_spelling(path)
    if canonical != path:
        raise RejectedEvent(
            f"'{name}' {path!r} is another spelling of {canonical!r}"
            " (escaped letters or digits, '//', '.' or '..' segments); send that path."
        )
    return path


def need_method(value: Any, name: str) -> str:
    if not isinstance(value, str) or not TOKEN.fullmatch(value):
        raise RejectedEvent(f"'{name}' must be an HTTP method name.")
    return value


def need_field_name(key: Any, name: str, names_are_tokens: bool) -> None:
    if names_are_tokens:
        if not isinstance(key, str) or not TOKEN.fullmatch(key):
            raise RejectedEvent(f"'{name}' has a name that is not an HTTP token: {key!r}.")
    elif not is_field_value(key):
        raise RejectedEvent(f"'{name}' has a name with CR, LF, NUL or invalid Unicode.")


def need_field_values(values: list[Any], name: str, key: str, shape: str) -> None:
    for item in values:
        if not is_text(item):
            raise RejectedEvent(f"'{name}' must map strings to {shape}.")
        if FORBIDDEN_IN_FIELD.search(item):
            raise RejectedEvent(f"'{name}' value for {key!r} contains CR, LF or NUL.")


def string_map(value: Any, name: str, *, names_are_tokens: bool = False) -> dict[str, str]:
    """An object of string values, or null (no entries)."""
    mapping = optional_dict(value, name)
    for key, item in mapping.items():
        need_field_name(key, name, names_are_tokens)
        need_field_values([item], name, key, "strings")
    return mapping


def string_list_map(
    value: Any, name: str, *, names_are_tokens: bool = False
) -> dict[str, list[str]]:
    """An object of lists of strings, or null (no entries)."""
    mapping = optional_dict(value, name)
    for key, values in mapping.items():
        need_field_name(key, name, names_are_tokens)
        if type(values) is not list:
            raise RejectedEvent(f"'{name}' must map strings to lists of strings.")
        need_field_values(values, name, key, "lists of strings")
    return mapping


def string_or_list_map(
    value: Any, name: str, *, names_are_tokens: bool = False
) -> dict[str, list[str]]:
    """An object whose values are strings or lists of strings (VPC Lattice sends both)."""
    mapping = optional_dict(value, name)
    lists: dict[str, list[str]] = {}
    for key, item in mapping.items():
        need_field_name(key, name, names_are_tokens)
        values = item if type(item) is list else [item]
        need_field_values(values, name, key, "strings or lists of strings")
        lists[key] = values
    return lists


def join_header(name: str, values: list[str]) -> str:
    # RFC 9110 lets repeated fields be joined with commas, except Cookie, whose
    # separator is "; " (RFC 6265).
    return ("; " if name.lower() == "cookie" else ", ").join(values)


def merged_headers(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """One value per case-insensitive header name, repeated values joined (serverless-wsgi
    would keep only the last)."""
    if len({k.lower() for k, _ in pairs}) == len(pairs):
        return dict(pairs)  # the usual case: nothing repeated, nothing to join
    return {name: join_header(name, values) for name, values in grouped_by_name(pairs).values()}


def pairs_of(mapping: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, values in mapping.items() for v in values]


def header(headers: dict[str, str], name: str) -> str:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), "")


def decoded_body(body: Any, flag: Any, body_name: str, flag_name: str) -> bytes:
    if flag not in (None, True, False):
        raise RejectedEvent(f"'{flag_name}' must be a boolean.")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise RejectedEvent(f"'{body_name}' must be a string or null.")
    if not flag:
        return body.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise RejectedEvent(
            f"'{body_name}' is marked {flag_name} but is not valid base64."
        ) from None
