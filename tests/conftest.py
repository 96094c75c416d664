"""Fixtures in the flaskr style (app, client), plus a store shared by the handler."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Generator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests import packaging, tiers
from tests.failure_evidence import save_evidence

# handler.py builds its app at import, from the environment; point it at a
# throwaway SQLite file before anything imports it.
SESSION_DIR = Path(tempfile.mkdtemp(prefix="user-api-tests-"))
os.environ["USERS_DB"] = str(SESSION_DIR / "handler.sqlite3")
os.environ.pop("USERS_TABLE", None)
os.environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)

# ci (the default, what `make check` and `make test` run): a few hundred derandomized
# examples, so a commit that passes once passes again. fuzz (`make fuzz`): many fresh random
# examples, for exploring, not for CI.
settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz", max_examples=20000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

from app import create_app  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tiers.mark_process_tests(items)  # the slow marker follows from the fixtures used


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    with tiers.run_guarded(item):  # a test not marked slow cannot start a process
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    save_evidence(item, report)  # e.g. browser screenshots (tests/failure_evidence.py)
    return report


@pytest.fixture(scope="session", autouse=True)
def shared_package_builds(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> None:
    """Package builds in a directory every xdist worker of this run shares (pytest's
    base temporary directory of the run, which pytest cleans up with the older runs)."""
    base = tmp_path_factory.getbasetemp()
    packaging.shared_builds_dir = (base.parent if worker_id != "master" else base) / "packages"
    packaging.shared_builds_dir.mkdir(exist_ok=True)


@pytest.fixture
def app(tmp_path: Path):
    return create_app({"TESTING": True, "USERS_DB": str(tmp_path / "users.sqlite3")})


@pytest.fixture
def client(app):
    return app.test_client()
