"""tests/events/*.json, the files for `osls invoke local -p`, stay real and working."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import handler
from tests.channels import LambdaContext
from tests.events import EVENT_KINDS, assert_real_shape, read_result

EVENTS_DIR = Path(__file__).parent / "events"


def test_one_file_per_event_kind() -> None:
    assert sorted(p.stem for p in EVENTS_DIR.glob("*.json")) == sorted(EVENT_KINDS)


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_event_file_is_real_and_gets_the_seed_answer(kind: str) -> None:
    event = json.loads((EVENTS_DIR / f"{kind}.json").read_text())
    assert_real_shape(kind, event)
    response = read_result(handler.handler(event, LambdaContext()), kind)
    assert (response.status, response.body) == (201, b"Success")
