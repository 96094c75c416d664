"""Create the users table on a local DynamoDB-compatible server, if it is missing.

The key schema and billing mode are read from serverless.yml (the UsersTable resource),
so the local table is keyed exactly like the deployed one. Used by
scripts/run_dynamodb_local.sh; needs boto3 and PyYAML (both in requirements-dev.txt).

    AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000 USERS_TABLE=users \\
        .venv/bin/python scripts/create_local_table.py
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import boto3
from serverless_config import table_definition  # scripts/, on sys.path when run as a script


def ensure_table(client: Any, name: str) -> bool:
    """True when the table was created now, False when it already existed."""
    try:
        client.describe_table(TableName=name)
        return False
    except client.exceptions.ResourceNotFoundException:
        pass
    client.create_table(TableName=name, **table_definition())
    # The waiter's default delay is 20 s between polls; local servers need milliseconds.
    waiter = client.get_waiter("table_exists")
    waiter.wait(TableName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 600})
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"))
    parser.add_argument("--table", default=os.environ.get("USERS_TABLE"))
    args = parser.parse_args()
    if not args.endpoint_url or not args.table:
        parser.error("need --endpoint-url/AWS_ENDPOINT_URL_DYNAMODB and --table/USERS_TABLE")
    if not args.endpoint_url.startswith(("http://127.0.0.1", "http://localhost")):
        # This script is for local servers; tables in AWS come from serverless.yml.
        parser.error(f"refusing a non-local endpoint: {args.endpoint_url}")
    client = boto3.session.Session().client("dynamodb", endpoint_url=args.endpoint_url)
    created = ensure_table(client, args.table)
    state = "created" if created else "exists"
    print(f"table {args.table!r} {state} at {args.endpoint_url}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
