"""The GitHub workflows under .github/ (docs/deployment.md: Workflows), checked offline by
actionlint (syntax, expressions, shell scripts through shellcheck when present) and zizmor
(security: pinning, permissions, injection, cache poisoning), with zero findings; plus the
rules both tools leave to us: every action pinned to a full commit SHA, minimal permissions.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

# actionlint and zizmor are programs of their own.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent
FULL_SHA = re.compile(r"[^@\s]+@[0-9a-f]{40}")


def load(path: Path) -> dict[Any, Any]:
    return yaml.safe_load(path.read_text())


def test_actionlint_finds_nothing() -> None:
    result = subprocess.run(
        [str(BIN / "actionlint"), "-no-color"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing() -> None:
    result = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", "--format", "plain", str(GITHUB)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


def test_the_linters_can_fail(tmp_path: Path) -> None:
    """An unpinned action with default permissions: both tools must object."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(
        "on: pull_request_target\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v4\n        with:\n"
        "          ref: ${{ github.event.pull_request.head.sha }}\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    zizmor = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", str(tmp_path / ".github")],
        capture_output=True,
        text=True,
    )
    assert zizmor.returncode != 0
    broken = workflows / "bad.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run:\n"
    )
    actionlint = subprocess.run(
        [str(BIN / "actionlint"), "-no-color", str(broken)], capture_output=True, text=True
    )
    assert actionlint.returncode != 0


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_and_permissions_are_per_job(workflow: Path) -> None:
    document = load(workflow)
    assert document.get("permissions") == {}, "workflow-level permissions must be {}"
    for name, job in document["jobs"].items():
        assert "permissions" in job, f"{name}: no permissions of its own"
        assert job["permissions"].get("contents") in (None, "read"), name
        for step in job.get("steps", []):
            if "uses" in step:
                assert FULL_SHA.fullmatch(step["uses"]), step["uses"]


def test_deploy_uses_oidc_an_environment_and_never_overlaps() -> None:
    deploy = load(GITHUB / "workflows" / "deploy.yml")
    assert deploy["concurrency"]["cancel-in-progress"] is False
    [job] = deploy["jobs"].values()
    assert job["environment"]["name"] == "production"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    [credentials] = [s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    assert set(credentials["with"]) >= {"role-to-assume", "aws-region"}
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials["with"])
    smoke = next(s for s in job["steps"] if s.get("name") == "Smoke test")["run"]
    for request in ("expect 201", "expect 200", "expect 400"):
        assert request in smoke


def test_dependabot_covers_pip_npm_and_actions_with_a_cooldown() -> None:
    updates = load(GITHUB / "dependabot.yml")["updates"]
    assert {u["package-ecosystem"] for u in updates} == {"pip", "npm", "github-actions"}
    assert all(u["cooldown"]["default-days"] >= 1 for u in updates)
