"""CloudWatch's embedded metric format (EMF), as the tests check it: every line against the
published JSON schema (tests/schemas/README.md), plus the rules the schema cannot state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from app import metrics

SCHEMA_PATH = Path(__file__).with_name("schemas") / "cloudwatch-emf.schema.json"
# The published schema names no draft; its "$id" fragments are draft-07's style (later drafts
# forbid them).
EMF_VALIDATOR = jsonschema.Draft7Validator(json.loads(SCHEMA_PATH.read_text()))


def emf_lines(output: str) -> list[dict[str, Any]]:
    """Every stdout line that is an EMF document, each checked against the schema and
    against the rules the schema cannot state (spec: Target members, DimensionSet)."""
    documents = []
    for line in output.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        EMF_VALIDATOR.validate(document)
        assert_targets_present(document)
        documents.append(document)
    return documents


def assert_targets_present(document: dict[str, Any]) -> None:
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for dimension in dimension_set:
                assert isinstance(document[dimension], str), dimension
        assert len(directive["Metrics"]) <= 100
        for definition in directive["Metrics"]:
            value = document[definition["Name"]]
            assert isinstance(value, int | float) and not isinstance(value, bool), definition


def counted(document: dict[str, Any]) -> dict[str, int]:
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == metrics.NAMESPACE
    assert directive["Dimensions"] == [[metrics.STAGE_DIMENSION]]
    return {d["Name"]: document[d["Name"]] for d in directive["Metrics"]}
