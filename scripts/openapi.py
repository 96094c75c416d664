"""The OpenAPI 3.1 description of this API, built from the code's own rules and headers.

`make openapi` (python -m scripts.openapi) writes it twice: openapi.yaml at the repository
root, for people and tools, and app/openapi.json, which the app serves at GET /openapi.json
as it is. The builder stays out of the Lambda zip: the zip carries only the document (about
3 KB deflated, against 13 KB for this module's source and bytecode), needs no YAML library,
and a cold start builds nothing. tests/test_openapi.py fails when either committed file
differs from what this writes; tests/test_schemathesis.py holds the service to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from werkzeug.wrappers import Request

from app.auth import (
    CEILING_WINDOW,
    CHALLENGE,
    FIRST_WAIT,
    FREE_FAILURES,
    MAX_GUESSING_CLIENTS,
    MAX_WAIT,
)
from app.config import DEFAULT_MAX_BODY_BYTES
from app.problems import PROBLEM_JSON, RETRY_AFTER_SECONDS
from app.users import DETAILS_PREFLIGHT, PASSWORD_PREFLIGHT, SIGN_UP_PREFLIGHT
from app.validation import (
    ACCEPTED_BODY_TYPES,
    DETAILS_RULES,
    FORBIDDEN_IN_NAMES,
    FORM,
    JSON,
    LOOKUP_RULES,
    MAX_NAME_LENGTH,
    MAX_PASSWORD_LENGTH,
    MAX_USERNAME_LENGTH,
    MIN_PASSWORD_LENGTH,
    MULTIPART,
    PASSWORD_CHANGE_RULES,
    REPLACEMENT_CHARACTER,
    SIGNUP_RULES,
    USERNAME_CHARACTERS,
    Rule,
    character_class,
    check_name,
    check_password,
    check_username,
)
from lambda_edge.header_policy import ALLOW_ANY_ORIGIN
from lambda_edge.responses import status_title

Schema = dict[str, Any]
HTML = "text/html"
SUCCESS_BODIES = ("Success", "<h1>Success</h1>")
# Lone surrogates (a JSON \ud800 escape) are refused in every field too; no pattern says so,
# because generators and validators outside Python cannot handle them in a class.
NAME_FORBIDDEN = character_class(FORBIDDEN_IN_NAMES)
# Python's \s is str.isspace(); ECMA-262's \s differs from it only on characters that
# NAME_FORBIDDEN refuses anyway, so both dialects read this pattern alike.
NAME_TEXT = f"[^{NAME_FORBIDDEN}]*[^{NAME_FORBIDDEN}\\s][^{NAME_FORBIDDEN}]*"


def field_schema(check: Callable[[str], str | None], *, required: bool) -> Schema:
    """A rule's check as JSON Schema. An optional field may also be empty (as a blank form
    input is sent), which counts as absent."""
    optional = "" if required else "?"
    if check is check_username:
        return {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_USERNAME_LENGTH,
            "pattern": f"^[{USERNAME_CHARACTERS}]+$",
        }
    if check is check_name:
        return {
            "type": "string",
            "minLength": 1 if required else 0,
            "maxLength": MAX_NAME_LENGTH,
            "pattern": f"^(?:{NAME_TEXT}){optional}$",
            "description": "Not only whitespace; no control (Cc), format (Cf), line or"
            " paragraph separator (Zl, Zp) characters.",
        }
    if check is check_password:
        return {
            "type": "string",
            "maxLength": MAX_PASSWORD_LENGTH,
            "pattern": f"^(?:[\\s\\S]{{{MIN_PASSWORD_LENGTH},}}){optional}$",
            "description": "Stored only as an argon2id hash; never logged or returned.",
        }
    raise ValueError(f"no schema for {check!r}")


FIELD_SCHEMA_NAMES: dict[Callable[[str], str | None], str] = {
    check_username: "Username",
    check_name: "Name",
    check_password: "Password",
}


def field_ref(rule: Rule, *, nullable: bool) -> Schema:
    name = FIELD_SCHEMA_NAMES[rule.check]
    if not rule.required:
        name = "Optional" + name
    ref = {"$ref": f"#/components/schemas/{name}"}
    if nullable and not rule.required:
        return {"anyOf": [ref, {"type": "null"}]}
    return ref


# werkzeug decodes multipart parts with errors="replace", so a U+FFFD there may stand for
# bytes that were not UTF-8; multipart_fields() refuses it rather than guess.
MULTIPART_TEXT = {"pattern": f"^[^{character_class(((ord(REPLACEMENT_CHARACTER),) * 2,))}]*$"}


def fields_schema(rules: tuple[Rule, ...], *, nullable: bool, multipart: bool = False) -> Schema:
    """An object of the rules' fields. Other fields are ignored, a repeated one too, unless
    a rule reads it (then 400). In JSON, null means "not given"."""
    properties = {rule.name: field_ref(rule, nullable=nullable) for rule in rules}
    if multipart:
        properties = {name: {"allOf": [ref, MULTIPART_TEXT]} for name, ref in properties.items()}
    return {
        "type": "object",
        "properties": properties,
        "required": [rule.name for rule in rules if rule.required],
    }


def field_schemas() -> dict[str, Schema]:
    schemas: dict[str, Schema] = {}
    for check, name in FIELD_SCHEMA_NAMES.items():
        schemas[name] = field_schema(check, required=True)
        if check is not check_username:
            schemas["Optional" + name] = field_schema(check, required=False)
    return schemas


def header(description: str, schema: Schema, *, required: bool = True) -> Schema:
    return {"description": description, "required": required, "schema": schema}


def const_header(value: str, description: str) -> Schema:
    return header(description, {"type": "string", "const": value})


# Response headers, by name in components.headers.
HEADERS = {
    "Access-Control-Allow-Origin": const_header(
        ALLOW_ANY_ORIGIN["Access-Control-Allow-Origin"],
        "On every answer of /userDetails, /userSignUp and /openapi.json, errors included.",
    ),
    "X-Content-Type-Options": const_header("nosniff", "On every answer."),
    "Cache-Control": const_header(
        "no-store", "Personal data, or an answer that depends on credentials."
    ),
    "Vary": header(
        "The success body depends on Accept.",
        {"type": "string", "pattern": "(^|,)\\s*Accept\\s*(,|$)"},
    ),
    "WWW-Authenticate": const_header(CHALLENGE["WWW-Authenticate"], "HTTP Basic."),
    "Accept-Post": const_header(", ".join(ACCEPTED_BODY_TYPES), "The accepted body types."),
    "Retry-After": const_header(str(RETRY_AFTER_SECONDS), "Seconds to wait."),
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/headers/{name}"}


def headers(*names: str) -> dict[str, Schema]:
    return {name: ref(name) for name in names}


def problem_response(status: int, description: str, *header_names: str) -> Schema:
    """An RFC 9457 problem answer; on the API paths it carries the CORS header too."""
    return {
        "description": description,
        "headers": headers("X-Content-Type-Options", "Access-Control-Allow-Origin", *header_names),
        "content": {
            PROBLEM_JSON: {
                "schema": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Problem"},
                        {
                            "properties": {
                                "status": {"const": status},
                                "title": {"const": status_title(status)},
                            }
                        },
                    ]
                }
            }
        },
    }


def common_problems(*header_names: str) -> dict[str, Schema]:
    """The errors any API request may get."""
    return {
        "400": problem_response(
            400,
            "The request is invalid: a field (named by `field`, e.g. missing, malformed, or"
            " a field a rule reads given twice), a body that is not valid UTF-8 form,"
            " multipart or JSON, or a Lambda event that HTTP does not allow.",
            *header_names,
        ),
        "500": problem_response(
            500,
            "A bug. The body carries `request_id` (the Lambda request id); the traceback"
            " goes only to the logs.",
            *header_names,
        ),
        "503": problem_response(
            503,
            "The user store is unavailable (locked, throttled, unreachable); nothing was"
            " written. Retry after the given seconds.",
            "Retry-After",
            *header_names,
        ),
    }


BODY_PROBLEMS = {
    "413": (
        f"The body is larger than MAX_BODY_BYTES ({DEFAULT_MAX_BODY_BYTES} bytes by default),"
        f" or a multipart body has more than {Request.max_form_parts} parts."
    ),
    "415": "The Content-Type is none of the accepted body types.",
}


def body_problems(*header_names: str) -> dict[str, Schema]:
    return {
        "413": problem_response(413, BODY_PROBLEMS["413"], *header_names),
        "415": problem_response(415, BODY_PROBLEMS["415"], "Accept-Post", *header_names),
    }


def account_problems() -> dict[str, Schema]:
    """A protected account (signed up with a password) needs its own Basic credentials."""
    return {
        "401": problem_response(
            401,
            "The account is protected and the request has no, malformed or wrong credentials.",
            "WWW-Authenticate",
            "Cache-Control",
        ),
        "403": problem_response(
            403,
            "Valid credentials of another account; or a cross-site form or multipart post"
            " (Sec-Fetch-Site, or an Origin that is not the API's own) to a protected account.",
            "Cache-Control",
        ),
        "429": login_wait_response(),
    }


def login_wait_response() -> Schema:
    response = problem_response(
        429,
        f"This client address sent {FREE_FAILURES} or more wrong passwords in a row for the"
        f" account: no password from it is checked until {FIRST_WAIT} s after its last wrong"
        f" one, doubling with each further wrong one up to {MAX_WAIT} s (other addresses are"
        f" not slowed). Or the account-wide ceiling: {MAX_GUESSING_CLIENTS} addresses each"
        f" sent a wrong password within {CEILING_WINDOW} s, and no address gets a password"
        " checked until the oldest of those ages out. Retry-After gives the seconds left.",
        "Cache-Control",
    )
    response["headers"]["Retry-After"] = header(
        "Seconds until the account takes another password.",
        {
            "type": "string",
            "pattern": f"^[1-9][0-9]{{0,{len(str(max(MAX_WAIT, CEILING_WINDOW))) - 1}}}$",
        },
    )
    return response


def request_body(rules: tuple[Rule, ...]) -> Schema:
    return {
        "required": True,
        "content": {
            FORM: {"schema": fields_schema(rules, nullable=False)},
            MULTIPART: {"schema": fields_schema(rules, nullable=False, multipart=True)},
            JSON: {"schema": fields_schema(rules, nullable=True)},
        },
    }


def success(status_text: str, *header_names: str) -> Schema:
    return {
        "description": f"{status_text}: `Success`, or `<h1>Success</h1>` when Accept prefers"
        " text/html to text/plain (a browser posting a form).",
        "headers": headers(
            "Vary", "X-Content-Type-Options", "Access-Control-Allow-Origin", *header_names
        ),
        "content": {HTML: {"schema": {"type": "string", "enum": list(SUCCESS_BODIES)}}},
    }


def preflight(answer: dict[str, str]) -> Schema:
    return {
        "summary": "CORS preflight",
        "security": [],
        "responses": {
            "204": {
                "description": "What a browser on another origin may send.",
                "headers": {
                    **headers("X-Content-Type-Options"),
                    **{
                        name: const_header(value, "The preflight's answer.")
                        for name, value in answer.items()
                    },
                },
            }
        },
    }


def username_parameter() -> Schema:
    (rule,) = LOOKUP_RULES
    return {
        "name": rule.name,
        "in": "query",
        "required": rule.required,
        "description": "Any letter case finds the account.",
        "schema": field_ref(rule, nullable=False),
    }


# Open accounts need no credentials; protected ones their own (401/403 otherwise).
OPEN_OR_PROTECTED: list[dict[str, list[str]]] = [{}, {"basic": []}]


def document() -> Schema:
    """The document, with the responses and parameters several operations share written
    once, in components, and referenced."""
    built = document_inline()
    responses, parameters = shared_responses(), shared_parameters()
    for item in built["paths"].values():
        for operation in item.values():
            operation["responses"] = {
                status: reference("responses", answer, responses)
                for status, answer in operation["responses"].items()
            }
            if "parameters" in operation:
                operation["parameters"] = [
                    reference("parameters", parameter, parameters)
                    for parameter in operation["parameters"]
                ]
    built["components"]["responses"] = responses
    built["components"]["parameters"] = parameters
    return built


# Names in components.responses of the answers shared between operations, by status.
SHARED_RESPONSE_NAMES = {
    "400": "InvalidRequest",
    "500": "ServerError",
    "503": "StoreUnavailable",
    "401": "Unauthorized",
    "403": "Forbidden",
    "429": "LoginWait",
    "413": "BodyTooLarge",
    "415": "UnsupportedBodyType",
}


def shared_responses() -> dict[str, Schema]:
    shared = {}
    for suffix, header_names in (("", ()), ("NoStore", ("Cache-Control",))):
        for status, answer in common_problems(*header_names).items():
            shared[SHARED_RESPONSE_NAMES[status] + suffix] = answer
    for status, answer in {**account_problems(), **body_problems()}.items():
        shared[SHARED_RESPONSE_NAMES[status]] = answer
    shared["AccountChanged"] = account_changed_response()
    return shared


def account_changed_response() -> Schema:
    return problem_response(409, "The account changed during the request; retry.")


def shared_parameters() -> dict[str, Schema]:
    return {"Username": username_parameter()}


def reference(kind: str, value: Schema, shared: dict[str, Schema]) -> Schema:
    """A $ref to the entry of ``shared`` equal to ``value``, or ``value`` when none is."""
    for name, candidate in shared.items():
        if candidate == value:
            return {"$ref": f"#/components/{kind}/{name}"}
    return value


def document_inline() -> Schema:
    """The document with every response and parameter written where it is used."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Flask user API",
            "version": "1.0.0",
            "description": 'The user API of the article "How to return the status code in'
            ' Flask", on AWS Lambda. Every error is an RFC 9457 problem'
            " (application/problem+json). A method a path does not serve is 405 with an"
            " `Allow` header; an unknown path is 404. An account signed up without a"
            " password is open to anyone; one signed up with a password is protected:"
            " reading, changing or erasing it needs its HTTP Basic credentials.",
        },
        "paths": {
            "/userDetails": {
                "post": {
                    "summary": "Create or replace a user's details (an upsert)",
                    "security": OPEN_OR_PROTECTED,
                    "requestBody": request_body(DETAILS_RULES),
                    "responses": {
                        "201": success("Created"),
                        **common_problems(),
                        **account_problems(),
                        "409": account_changed_response(),
                        **body_problems(),
                    },
                },
                "get": {
                    "summary": "A user's details",
                    "security": OPEN_OR_PROTECTED,
                    "parameters": [username_parameter()],
                    "responses": {
                        "200": {
                            "description": "The details; `username` as spelled at sign-up.",
                            "headers": headers(
                                "Cache-Control",
                                "X-Content-Type-Options",
                                "Access-Control-Allow-Origin",
                            ),
                            "content": {JSON: {"schema": {"$ref": "#/components/schemas/User"}}},
                        },
                        **common_problems("Cache-Control"),
                        **account_problems(),
                        "404": problem_response(404, "No user by that name.", "Cache-Control"),
                    },
                },
                "delete": {
                    "summary": "Erase a user: the account and its details, in one operation",
                    "description": "The same access rules as GET. Afterwards GET is 404 and"
                    " the name is free for a new sign-up.",
                    "security": OPEN_OR_PROTECTED,
                    "parameters": [username_parameter()],
                    "responses": {
                        "204": {
                            "description": "Erased; no body.",
                            "headers": headers(
                                "X-Content-Type-Options", "Access-Control-Allow-Origin"
                            ),
                        },
                        **common_problems(),
                        **account_problems(),
                        "404": problem_response(404, "No user by that name (or erased already)."),
                        "409": account_changed_response(),
                    },
                },
                "options": preflight(DETAILS_PREFLIGHT),
            },
            "/userPassword": {
                "post": {
                    "summary": "Change a protected account's password",
                    "description": "`password` is the new password; the current one comes as"
                    " the account's HTTP Basic credentials, without which the answer is 401."
                    " Afterwards the old password is wrong, the new one works, and the count"
                    " of wrong passwords starts over.",
                    "security": [{"basic": []}],
                    "requestBody": request_body(PASSWORD_CHANGE_RULES),
                    "responses": {
                        "200": success("Changed", "Cache-Control"),
                        **common_problems("Cache-Control"),
                        **account_problems(),
                        "404": problem_response(404, "No account by that name.", "Cache-Control"),
                        "409": problem_response(
                            409,
                            "The account is open (it has no password to change), or it changed"
                            " during the request (another change won; retry).",
                            "Cache-Control",
                        ),
                        **body_problems("Cache-Control"),
                    },
                },
                "options": preflight(PASSWORD_PREFLIGHT),
            },
            "/userSignUp": {
                "post": {
                    "summary": "Sign up: an open account without a password, a protected"
                    " one with one",
                    "security": [],
                    "requestBody": request_body(SIGNUP_RULES),
                    "responses": {
                        "200": success("Signed up"),
                        **common_problems(),
                        "409": problem_response(409, "The username is taken, in any letter case."),
                        **body_problems(),
                    },
                },
                "options": preflight(SIGN_UP_PREFLIGHT),
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1, as JSON.",
                            "headers": headers(
                                "X-Content-Type-Options", "Access-Control-Allow-Origin"
                            ),
                            "content": {JSON: {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/": {
                "get": {
                    "summary": "A page with a sign-up form and a details form",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "An HTML page.",
                            "headers": headers("X-Content-Type-Options"),
                            "content": {HTML: {"schema": {"type": "string"}}},
                        },
                        "304": {
                            "description": "Not Modified: If-None-Match names the page's ETag."
                        },
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "A protected account's own username and password.",
                }
            },
            "headers": HEADERS,
            "schemas": {
                **field_schemas(),
                "User": {
                    "type": "object",
                    "properties": {
                        "username": {"$ref": "#/components/schemas/Username"},
                        "firstname": {"type": ["string", "null"]},
                        "lastname": {"type": ["string", "null"]},
                    },
                    "required": ["username", "firstname", "lastname"],
                    "additionalProperties": False,
                },
                "Problem": {
                    "type": "object",
                    "description": "RFC 9457 problem details.",
                    "properties": {
                        "type": {"const": "about:blank"},
                        "title": {"type": "string"},
                        "status": {"type": "integer", "minimum": 400, "maximum": 599},
                        "detail": {"type": "string"},
                        "field": {"type": "string", "description": "The field at fault."},
                        "request_id": {"type": "string", "description": "On a 500."},
                    },
                    "required": ["type", "title", "status", "detail"],
                },
            },
        },
    }


REPO = Path(__file__).resolve().parent.parent
OPENAPI_YAML = REPO / "openapi.yaml"
OPENAPI_JSON = REPO / "app" / "openapi.json"
YAML_HEADER = "# Generated from scripts/openapi.py by `make openapi`; do not edit by hand.\n"


class Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML ships no types
    """Writes a value used twice in the document out twice, not as an anchor and alias."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def render_yaml() -> str:
    # Key order as built above; non-ASCII characters as YAML escapes; no line folding.
    text: str = yaml.dump(
        document(), Dumper=Dumper, sort_keys=False, allow_unicode=False, width=2**16
    )
    return YAML_HEADER + text


def render_json() -> str:
    # Indented, so a change to the API is a readable diff.
    return json.dumps(document(), indent=2) + "\n"


def main() -> None:
    for path, text in ((OPENAPI_YAML, render_yaml()), (OPENAPI_JSON, render_json())):
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
