"""Reading and checking request fields. Every failure is a 4xx Problem that names the field."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from flask import request

from app.problems import Problem

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
JSON = "application/json"
ACCEPTED_BODY_TYPES = (FORM, MULTIPART, JSON)
# Content types a browser may send cross-site without a CORS preflight (Fetch standard).
SIMPLE_BODY_TYPES = frozenset({FORM, MULTIPART, "text/plain"})
REPLACEMENT_CHARACTER = "\ufffd"

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
ASCII_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
# Controls (Cc: C0 and C1), format characters (Cf: zero-width, BOM, tags and the
# bidirectional overrides that make a name display as something else in logs, terminals
# and admin pages), and line and paragraph separators (Zl, Zp).
FORBIDDEN_IN_NAMES = frozenset({"Cc", "Cf", "Zl", "Zp"})
# JSON's \ud800-style escapes decode to lone surrogates, which no UTF-8 store accepts.
SURROGATES = re.compile(r"[\ud800-\udfff]")


def check_username(value: str) -> str | None:
    if USERNAME_PATTERN.fullmatch(value):
        return None
    return "must be 1-64 characters from A-Z, a-z, 0-9 and _ . @ -"


def check_name(value: str) -> str | None:
    if not 1 <= len(value) <= 100:
        return "must be 1-100 characters"
    if value.isascii():  # the usual case: one regex instead of a lookup per character
        if ASCII_CONTROLS.search(value):
            return "must not contain control, format or line-separator characters"
    elif any(unicodedata.category(c) in FORBIDDEN_IN_NAMES for c in value):
        return "must not contain control, format or line-separator characters"
    if value.isspace():
        return "must not be only whitespace"
    return None


def check_password(value: str) -> str | None:
    if not MIN_PASSWORD_LENGTH <= len(value) <= MAX_PASSWORD_LENGTH:
        return f"must be {MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} characters"
    return None


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    required: bool
    check: Callable[[str], str | None]


DETAILS_RULES = (
    Rule("username", True, check_username),
    Rule("firstname", False, check_name),
    Rule("lastname", True, check_name),
)
SIGNUP_RULES = (
    Rule("username", True, check_username),
    Rule("password", False, check_password),
    Rule("firstname", False, check_name),
)
LOOKUP_RULES = (Rule("username", True, check_username),)


def invalid(field: str, message: str) -> Problem:
    return Problem(400, f"'{field}' {message}.", field=field)


def validate(fields: Mapping[str, object], rules: tuple[Rule, ...]) -> dict[str, str | None]:
    """Return every rule's field (None when optional and absent); unknown fields are ignored.

    An empty optional field counts as absent: an HTML form sends `firstname=` for a field
    left blank. An empty required field is still refused, naming the field.
    """
    valid: dict[str, str | None] = {}
    for rule in rules:
        value = fields.get(rule.name)
        if value == "" and not rule.required:
            value = None
        if value is None:
            if rule.required:
                raise invalid(rule.name, "is required")
            valid[rule.name] = None
            continue
        if not isinstance(value, str):
            raise invalid(rule.name, "must be a string")
        if SURROGATES.search(value):
            raise invalid(rule.name, "must be valid Unicode text (it has a lone surrogate)")
        message = rule.check(value)
        if message:
            raise invalid(rule.name, message)
        valid[rule.name] = value
    return valid


def unique_fields(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Key/value pairs (form, query or JSON object) as a dict, refusing repeated keys."""
    fields: dict[str, Any] = {}
    for key, value in pairs:
        if key in fields:
            # Two values for one field: refuse to guess which the client meant.
            raise invalid(key, "is given more than once")
        fields[key] = value
    return fields


def query_fields() -> dict[str, str]:
    return unique_fields(list(request.args.items(multi=True)))


def body_fields() -> Mapping[str, object]:
    """The POST body as a flat str->str mapping, whatever its accepted content type."""
    mimetype = request.mimetype
    if mimetype == FORM:
        return form_fields(request.get_data(cache=False))
    if mimetype == MULTIPART:
        if not request.mimetype_params.get("boundary"):
            raise Problem(400, "The multipart/form-data body has no boundary parameter.")
        return multipart_fields()
    if mimetype == JSON:
        return json_fields(request.get_data(cache=False))
    received = f"Content-Type '{mimetype}'" if mimetype else "A request without a Content-Type"
    raise Problem(
        415,
        f"{received} is not supported; send {', '.join(ACCEPTED_BODY_TYPES)}.",
        headers={"Accept-Post": ", ".join(ACCEPTED_BODY_TYPES)},
    )


def multipart_fields() -> dict[str, str]:
    if request.files:
        # A file part is not a field: dropping it would, say, turn a password sent with
        # `curl -F password=@file` into an open account.
        raise invalid(next(iter(request.files)), "must be a form field, not a file upload")
    fields = unique_fields(list(request.form.items(multi=True)))
    for name, value in fields.items():
        if REPLACEMENT_CHARACTER in value:
            # werkzeug decodes parts with errors="replace": undecodable bytes arrive as
            # U+FFFD, and two different passwords could become the same text.
            raise invalid(name, "must be valid UTF-8 text")
    return fields


def form_fields(raw: bytes) -> dict[str, str]:
    try:
        # werkzeug would silently keep undecodable bytes as replacement text;
        # strict decoding turns a garbled form into a clear 400 instead.
        pairs = parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict"
        )
    except UnicodeDecodeError as exc:
        raise Problem(400, f"The form body is not valid UTF-8: {exc.reason}.") from exc
    return unique_fields(pairs)


def json_fields(raw: bytes) -> dict[str, object]:
    try:
        text = raw.decode("utf-8")  # RFC 8259: JSON exchanged between systems is UTF-8
    except UnicodeDecodeError as exc:
        raise Problem(400, f"The JSON body is not valid UTF-8: {exc.reason}.") from exc
    try:
        document = json.loads(text, object_pairs_hook=unique_fields)
    except ValueError as exc:
        raise Problem(400, f"The body is not valid JSON: {exc}.") from exc
    except RecursionError:
        raise Problem(400, "The JSON body is nested too deeply.") from None
    if not isinstance(document, dict):
        raise Problem(400, "The JSON body must be an object of string fields.")
    # null means "not given"; other non-string values are rejected by validate().
    return {key: value for key, value in document.items() if value is not None}
