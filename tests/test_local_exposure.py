"""What `make run` exposes on this machine: DynamoDB Local (STORE=dynamodb,
scripts/run_dynamodb_local.sh) answers on 127.0.0.1 only, its data is the owner's alone, and
no web page may call it; nor may a web page call the Lambda invoke port (LAMBDA_PORT)."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.events import build_event
from tests.http_types import HttpRequest
from tests.net import free_port
from tests.offline_server import start_offline

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent

# Run by the script once DynamoDB Local is up: what a client here, and one elsewhere, sees.
PROBE = r"""
import json, os, socket, subprocess, sys, urllib.request
import boto3

port = int(sys.argv[1])
client = boto3.client("dynamodb")
client.put_item(TableName="users", Item={"pk": {"S": "USER#probe"}, "sk": {"S": "PROFILE"}})
addresses = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
reachable = {}
for address in addresses:
    try:
        socket.create_connection((address, port), timeout=2).close()
        reachable[address] = True
    except OSError:
        reachable[address] = False
preflight = urllib.request.Request(
    f"http://127.0.0.1:{port}/",
    method="OPTIONS",
    headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"},
)
try:
    with urllib.request.urlopen(preflight, timeout=5) as response:
        allowed = response.headers.get("Access-Control-Allow-Origin")
except urllib.error.HTTPError as error:
    allowed = error.headers.get("Access-Control-Allow-Origin")
print("PROBE " + json.dumps({"reachable": reachable, "allowed_origin": allowed}))
"""


def test_dynamodb_local_is_loopback_only_private_and_closed_to_web_pages(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "dynamodb-local"
    env = {**os.environ, "DYNAMODB_LOCAL_PORT": str(port), "DYNAMODB_LOCAL_PATH": str(data)}
    env.pop("DYNAMODB_LOCAL_EXPOSED", None)
    result = subprocess.run(
        ["scripts/run_dynamodb_local.sh", sys.executable, "-c", PROBE, str(port)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [line] = [line for line in result.stdout.splitlines() if line.startswith("PROBE ")]
    probe = json.loads(line.removeprefix("PROBE "))
    non_loopback = {a: r for a, r in probe["reachable"].items() if not a.startswith("127.")}
    if not non_loopback:
        pytest.skip("this machine has no non-loopback address to try")
    assert not any(non_loopback.values()), non_loopback
    assert probe["allowed_origin"] in (None, "http://no-page.invalid")
    assert data.stat().st_mode & 0o777 == 0o700
    files = list(data.iterdir())
    assert files, "DynamoDB Local wrote no data"
    assert {f.name: f.stat().st_mode & 0o777 for f in files} == {f.name: 0o600 for f in files}


def invoke(lambda_port: int, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", lambda_port, timeout=30)
    try:
        path = "/2015-03-31/functions/user-api-dev-api/invocations"
        connection.request("POST", path, body=json.dumps(SEED_EVENT), headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


SEED_EVENT = build_event(
    "http_api_v2",
    HttpRequest("GET", "/userDetails", query=(("username", "nobody"),)),
    base64_body=False,
)


def test_the_lambda_invoke_port_refuses_web_pages_and_serves_the_sdk() -> None:
    lambda_port = free_port()
    with start_offline(lambda_port=lambda_port):
        # A page's cross-origin fetch: text/plain needs no preflight, so the browser sends it.
        status, headers, body = invoke(
            lambda_port, {"Origin": "http://evil.test", "Content-Type": "text/plain"}
        )
        assert status == 403 and "access-control-allow-origin" not in headers, (headers, body)
        status, headers, _ = invoke(lambda_port, {"Origin": "null"})
        assert status == 403 and "access-control-allow-origin" not in headers
        # What the AWS SDK or CLI sends: no Origin. The function answers (no such user).
        status, headers, body = invoke(lambda_port, {"Content-Type": "application/json"})
        assert status == 200 and "access-control-allow-origin" not in headers
        assert json.loads(body)["statusCode"] == 404
