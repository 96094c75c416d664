"""The OpenAPI description: generated from the code, committed as openapi.yaml, served at
GET /openapi.json, valid OpenAPI 3.1, and describing exactly the routes the app serves."""

from __future__ import annotations

import json
import sys
import unicodedata

import pytest
import yaml
from openapi_spec_validator import validate

from app import create_app
from app.validation import ASCII_NOT_IN_NAMES, FORBIDDEN_IN_NAMES, check_name
from scripts.openapi import OPENAPI_JSON, OPENAPI_YAML, document, render_json, render_yaml

# Flask adds HEAD to every GET route.
IMPLIED_METHODS = frozenset({"HEAD"})
# Served by Flask for every app, never by this API's views.
NOT_DESCRIBED = frozenset({"/static/<path:filename>"})


def served_paths() -> dict[str, set[str]]:
    """Path -> methods, as the app's URL map routes them."""
    paths: dict[str, set[str]] = {}
    for rule in create_app({"TESTING": True}).url_map.iter_rules():
        if rule.rule in NOT_DESCRIBED:
            continue
        implied = IMPLIED_METHODS
        if rule.provide_automatic_options:
            # Flask's own OPTIONS answer (200, Allow, no body), not a view of this API.
            implied |= {"OPTIONS"}
        paths.setdefault(rule.rule, set()).update(
            method.lower() for method in (rule.methods or ()) if method not in implied
        )
    return paths


@pytest.mark.parametrize(
    ("path", "render"),
    [(OPENAPI_YAML, render_yaml), (OPENAPI_JSON, render_json)],
    ids=["yaml", "json"],
)
def test_the_committed_files_are_what_the_code_generates(path, render) -> None:
    committed = path.read_text(encoding="utf-8")
    assert committed == render(), f"{path.name} is stale: run `make openapi` and commit it"


def test_the_committed_file_reads_as_the_document() -> None:
    assert yaml.safe_load(OPENAPI_YAML.read_text(encoding="utf-8")) == json.loads(
        json.dumps(document())
    )


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(json.loads(json.dumps(document())))


def test_every_described_operation_is_served_and_every_route_described() -> None:
    described = {path: set(item) for path, item in document()["paths"].items()}
    served = served_paths()
    if "/" not in served:
        # The page lands with its own branch; until then only it may be missing.
        described.pop("/")
    assert described == served


def test_get_openapi_json_serves_the_document(client) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == json.loads(json.dumps(document()))
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_forbidden_name_ranges_are_unicodes_cc_cf_zl_zp() -> None:
    """FORBIDDEN_IN_NAMES (one regex in the code, the same class in the spec's patterns) is
    exactly the README's rule, on this Python's Unicode database."""
    categories = {"Cc", "Cf", "Zl", "Zp"}
    expected = [
        code for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) in categories
    ]
    listed = [code for low, high in FORBIDDEN_IN_NAMES for code in range(low, high + 1)]
    assert listed == expected, unicodedata.unidata_version


@pytest.mark.parametrize("code", [0x0, 0x85, 0xAD, 0x200B, 0x202E, 0x2029, 0xFEFF, 0xE0041])
def test_a_name_with_any_kind_of_forbidden_character_is_refused(code: int) -> None:
    assert check_name(f"ki{chr(code)}ng") is not None
    assert check_name(f"k\u00f6{chr(code)}ng") is not None  # the non-ASCII path


def test_the_ascii_class_is_the_ascii_part_of_the_ranges() -> None:
    ascii_forbidden = [code for code in range(0x80) if ASCII_NOT_IN_NAMES.search(chr(code))]
    listed = [code for low, high in FORBIDDEN_IN_NAMES for code in range(low, high + 1)]
    assert ascii_forbidden == [code for code in listed if code < 0x80]


def test_generating_twice_writes_the_same_bytes() -> None:
    assert (render_yaml(), render_json()) == (render_yaml(), render_json())


def test_shared_responses_and_parameters_are_written_once_and_used() -> None:
    described = document()
    paths = json.dumps(described["paths"])
    for kind in ("responses", "parameters"):
        for name in described["components"][kind]:
            assert f'"#/components/{kind}/{name}"' in paths, name
    # An answer that two operations give belongs in components.responses.
    inline = [
        json.dumps(answer, sort_keys=True)
        for item in described["paths"].values()
        for operation in item.values()
        for answer in operation["responses"].values()
        if "$ref" not in answer
    ]
    assert sorted(set(inline)) == sorted(inline)
