"""Reading and checking request fields. Every failure is a 4xx Problem that names the field."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
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

USERNAME_CHARACTERS = "A-Za-z0-9_.@-"  # a regular expression character class's body
MAX_USERNAME_LENGTH = 64
USERNAME_PATTERN = re.compile(f"[{USERNAME_CHARACTERS}]{{1,{MAX_USERNAME_LENGTH}}}")
MAX_NAME_LENGTH = 100
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
# Code points refused in names: controls (Cc: C0 and C1), format characters (Cf: zero-width,
# BOM, tags and the bidirectional overrides that make a name display as something else in
# logs, terminals and admin pages), and line and paragraph separators (Zl, Zp), as the
# running Python's unicodedata has them (tests/test_openapi.py checks that). As ranges, so one
# regular expression checks a name and the same class goes into the OpenAPI patterns.
FORBIDDEN_IN_NAMES = (
    (0x0, 0x1F),
    (0x7F, 0x9F),
    (0xAD, 0xAD),
    (0x600, 0x605),
    (0x61C, 0x61C),
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x890, 0x891),
    (0x8E2, 0x8E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)
# JSON's \ud800-style escapes decode to lone surrogates, which no UTF-8 store accepts.
SURROGATE_RANGE = (0xD800, 0xDFFF)


def character_class(ranges: Iterable[tuple[int, int]]) -> str:
    """The body of a regular expression class for ``ranges``, read alike by Python's re and
    ECMA-262 (JSON Schema's dialect): BMP code points as \\uXXXX escapes, others as
    themselves (ECMA-262 has no \\U escape)."""

    def one(code: int) -> str:
        return f"\\u{code:04X}" if code <= 0xFFFF else chr(code)

    return "".join(one(a) if a == b else f"{one(a)}-{one(b)}" for a, b in ranges)


# The usual name is ASCII: a small class compiled at import checks it; the full class is
# compiled on the first name that is not (a cold start does not pay for it).
ASCII_NOT_IN_NAMES = re.compile(
    f"[{character_class((low, min(high, 0x7F)) for low, high in FORBIDDEN_IN_NAMES if low < 0x80)}]"
)
SURROGATES = re.compile(f"[{character_class((SURROGATE_RANGE,))}]")


@functools.cache
def not_in_names() -> re.Pattern[str]:
    return re.compile(f"[{character_class(FORBIDDEN_IN_NAMES)}]")


def check_username(value: str) -> str | None:
    if USERNAME_PATTERN.fullmatch(value):
        return None
    return f"must be 1-{MAX_USERNAME_LENGTH} characters from A-Z, a-z, 0-9 and _ . @ -"


def check_name(value: str) -> str | None:
    if not 1 <= len(value) <= MAX_NAME_LENGTH:
        return f"must be 1-{MAX_NAME_LENGTH} characters"
    forbidden = ASCII_NOT_IN_NAMES if value.isascii() else not_in_names()
    if forbidden.search(value):
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
# The new password; the current one comes as HTTP Basic credentials.
PASSWORD_CHANGE_RULES = (
    Rule("username", True, check_username),
    Rule("password", True, check_password),
)


def invalid(field: str, message: str) -> Problem:
    return Problem(400, f"'{field}' {message}.", field=field)


class Fields(dict[str, Any]):
    """A body's or query's fields by name (the first value of each), and the names given
    more than once: refused when a rule reads them, ignored like any unknown field otherwise."""

    __slots__ = ("repeated",)

    def __init__(self, pairs: Iterable[tuple[str, Any]] = ()) -> None:
        super().__init__()
        self.repeated: set[str] = set()
        for key, value in pairs:
            if key in self:
                self.repeated.add(key)
            else:
                self[key] = value


def validate(fields: Fields, rules: tuple[Rule, ...]) -> dict[str, str | None]:
    """Return every rule's field (None when optional and absent); unknown fields are ignored.

    An empty optional field counts as absent: an HTML form sends `firstname=` for a field
    left blank. An empty required field is still refused, naming the field.
    """
    valid: dict[str, str | None] = {}
    for rule in rules:
        if rule.name in fields.repeated:
            # Two values for one field: refuse to guess which the client meant.
            raise invalid(rule.name, "is given more than once")
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


def query_fields() -> Fields:
    return Fields(request.args.items(multi=True))


def body_fields() -> Fields:
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


def multipart_fields() -> Fields:
    if request.files:
        # A file part is not a field: dropping it would, say, turn a password sent with
        # `curl -F password=@file` into an open account.
        raise invalid(next(iter(request.files)), "must be a form field, not a file upload")
    fields = Fields(request.form.items(multi=True))
    for name, value in fields.items():
        if REPLACEMENT_CHARACTER in value:
            # werkzeug decodes parts with errors="replace": undecodable bytes arrive as
            # U+FFFD, and two different passwords could become the same text.
            raise invalid(name, "must be valid UTF-8 text")
    return fields


def form_fields(raw: bytes) -> Fields:
    try:
        # werkzeug would silently keep undecodable bytes as replacement text;
        # strict decoding turns a garbled form into a clear 400 instead.
        pairs = parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict"
        )
    except UnicodeDecodeError as exc:
        raise Problem(400, f"The form body is not valid UTF-8: {exc.reason}.") from exc
    return Fields(pairs)


def json_fields(raw: bytes) -> Fields:
    try:
        text = raw.decode("utf-8")  # RFC 8259: JSON exchanged between systems is UTF-8
    except UnicodeDecodeError as exc:
        raise Problem(400, f"The JSON body is not valid UTF-8: {exc.reason}.") from exc
    try:
        document = json.loads(text, object_pairs_hook=Fields)
    except ValueError as exc:
        raise Problem(400, f"The body is not valid JSON: {exc}.") from exc
    except RecursionError:
        raise Problem(400, "The JSON body is nested too deeply.") from None
    if not isinstance(document, Fields):
        raise Problem(400, "The JSON body must be an object of string fields.")
    # null means "not given"; other non-string values are rejected by validate().
    given = Fields((key, value) for key, value in document.items() if value is not None)
    given.repeated = document.repeated
    return given
