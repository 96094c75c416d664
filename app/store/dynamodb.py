"""DynamoDB backend: what the function uses in AWS (USERS_TABLE set).

Data model (one table, declared in serverless.yml), one item per user and kind:

    pk = "USER#<username>"   sk = "ACCOUNT"   password_hash?, firstname?, created_at, token
    pk = "USER#<username>"   sk = "DETAILS"   firstname?, lastname, updated_at

Account and details are separate items so details posted before sign-up never make
the username look taken, and so each operation is one single-item write, which
DynamoDB applies atomically: nothing is ever half-written.

- create_account: PutItem with attribute_not_exists(pk) on the ACCOUNT item. DynamoDB
  evaluates the condition and the write under one per-item lock: exactly one winner.
- put_details: UpdateItem (an upsert); firstname is only SET when given, so the old one
  is kept, like the SQLite backend's coalesce.
- get_user: one strongly consistent Query on pk returns both items in one round trip
  and one read unit (two GetItems would be two calls and two units). Strongly
  consistent because the API promises "GET returns what was just posted".

Three actions in all (PutItem, UpdateItem, Query), so the IAM policy can be exact.

boto3 is imported only here: the Lambda runtime provides it, requirements.txt does not.
"""

from __future__ import annotations

import functools
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from app.store import ConfigurationError, StoreUnavailable, UsernameTaken, UserRecord

DynamoDBClient = Any  # botocore builds the client class at run time

ACCOUNT = "ACCOUNT"
DETAILS = "DETAILS"

# Error codes that mean "not now": the request was refused or failed before any write
# happened (DynamoDB applies a write entirely or not at all), so a retry is safe.
UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
# Transport failures botocore raises after its own retries are spent.
UNAVAILABLE_ERRORS = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)
# The deployment is wrong (no such table here, the role may not use it): retrying cannot
# help and a 503 would hide it. Still a 500, but the log names the table and the cause.
MISCONFIGURED_CODES = frozenset(
    {"ResourceNotFoundException", "AccessDeniedException", "UnrecognizedClientException"}
)


CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 1.0
MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """How patient the client is. The defaults fit the 10 s function timeout:

    one call, worst case = max_attempts * (connect_timeout + read_timeout) + backoff
                         = 3 * (1 s + 1 s) + ~0.1 s (botocore's DynamoDB backoff for
                           transient errors is rand * 25 ms * 2^i) = ~6.1 s.
    Throttling answers arrive at once but back off longer (rand * 1 s * 2^i): three
    throttled attempts cost at most ~3 s, and mixing timeouts with throttling stays
    under ~6.1 s too. A request makes one store call, so even the worst case leaves
    ~3.9 s for scrypt (~0.1 s) and the rest of the request. (DNS lookups are not bounded
    by connect_timeout; DynamoDB sends no x-amz-retry-after, which could add up to 5 s.)
    """

    endpoint_url: str | None = None  # None: boto3's own lookup (AWS_ENDPOINT_URL_DYNAMODB)
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    max_attempts: int = MAX_ATTEMPTS  # in total, the first attempt included

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ClientSettings:
        return cls(
            endpoint_url=config.get("DYNAMODB_ENDPOINT_URL") or None,
            connect_timeout=float(config.get("DYNAMODB_CONNECT_TIMEOUT", CONNECT_TIMEOUT)),
            read_timeout=float(config.get("DYNAMODB_READ_TIMEOUT", READ_TIMEOUT)),
            max_attempts=int(config.get("DYNAMODB_MAX_ATTEMPTS", MAX_ATTEMPTS)),
        )

    def worst_case_seconds(self) -> float:
        backoff = sum(0.025 * 2**i for i in range(self.max_attempts - 1))
        return self.max_attempts * (self.connect_timeout + self.read_timeout) + backoff


@functools.cache
def shared_client(settings: ClientSettings) -> DynamoDBClient:
    """One client per process and settings: building one costs tens of milliseconds
    (service model loading), and a client keeps its connection pool warm between
    invocations. boto3 clients are thread-safe; a session is not, so each gets its own."""
    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=settings.endpoint_url,
        config=Config(
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            # total_max_attempts counts the first attempt; botocore's "max_attempts" does not.
            retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
        ),
    )


# A forked child must not share the parent's pooled sockets: two processes writing to one
# TCP connection interleave their requests. Each child builds its own client instead.
os.register_at_fork(after_in_child=shared_client.cache_clear)


def pk(username: str) -> dict[str, str]:
    # Usernames are [A-Za-z0-9_.@-]{1,64} (app/validation.py): no '#', so no ambiguity.
    return {"S": f"USER#{username}"}


class DynamoUserStore:
    def __init__(self, table: str, settings: ClientSettings | None = None) -> None:
        self.table = table
        # Built now, in create_app (Lambda's init phase), not on the first request. Measured
        # in fresh interpreters against a local DynamoDB server (medians of 41 interleaved runs): import +
        # create_app + first request cost the same either way (~313 ms), but building it
        # here takes the first request from ~80 ms to ~12 ms. Init is where provisioned
        # concurrency and SnapStart pay ahead of time, and a missing region fails there.
        self.client = shared_client(settings or ClientSettings())

    def create_account(
        self, username: str, password_hash: str | None, firstname: str | None
    ) -> None:
        # A per-call marker (botocore's retries resend the same item): if a retry follows an
        # attempt that landed but whose response was lost, it fails the condition against
        # our own item. ALL_OLD hands that item back in the same call, so no extra read
        # (and no extra IAM action) is needed to tell that the account is ours.
        token = secrets.token_hex(16)
        item: dict[str, Any] = {
            "pk": pk(username),
            "sk": {"S": ACCOUNT},
            "created_at": {"N": repr(time.time())},
            "token": {"S": token},
        }
        if password_hash is not None:
            item["password_hash"] = {"S": password_hash}
        if firstname is not None:
            item["firstname"] = {"S": firstname}
        try:
            with self.translated_errors():
                self.client.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(pk)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            existing = exc.response.get("Item") or {}
            if existing.get("token") == {"S": token}:
                return  # our own earlier attempt won; the retry only saw it
            raise UsernameTaken(username) from exc

    def put_details(self, username: str, firstname: str | None, lastname: str) -> None:
        assignments = ["#lastname = :lastname", "#updated_at = :updated_at"]
        names = {"#lastname": "lastname", "#updated_at": "updated_at"}
        values: dict[str, Any] = {
            ":lastname": {"S": lastname},
            ":updated_at": {"N": repr(time.time())},
        }
        if firstname is not None:
            assignments.append("#firstname = :firstname")
            names["#firstname"] = "firstname"
            values[":firstname"] = {"S": firstname}
        with self.translated_errors():
            self.client.update_item(
                TableName=self.table,
                Key={"pk": pk(username), "sk": {"S": DETAILS}},
                UpdateExpression="SET " + ", ".join(assignments),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    def get_user(self, username: str) -> UserRecord | None:
        with self.translated_errors():
            response = self.client.query(
                TableName=self.table,
                KeyConditionExpression="#pk = :pk",
                # Never read the password hash back; it is not needed here.
                ProjectionExpression="#sk, #firstname, #lastname",
                ExpressionAttributeNames={
                    "#pk": "pk",
                    "#sk": "sk",
                    "#firstname": "firstname",
                    "#lastname": "lastname",
                },
                ExpressionAttributeValues={":pk": pk(username)},
                ConsistentRead=True,
            )
        items = {item["sk"]["S"]: item for item in response["Items"]}
        if not items:
            return None
        details = items.get(DETAILS, {})
        account = items.get(ACCOUNT, {})
        firstname = string(details, "firstname")
        return UserRecord(
            username,
            firstname if firstname is not None else string(account, "firstname"),
            string(details, "lastname"),
        )

    @contextmanager
    def translated_errors(self) -> Iterator[None]:
        """Map botocore's errors onto the store's.

        Once botocore's own retries are spent, "not now" becomes StoreUnavailable (a 503
        with Retry-After). DynamoDB applies a write entirely or not at all, so nothing is
        half-written, and a throttled, refused or unreachable attempt wrote nothing. Only
        a write whose every response timed out may have landed unseen: harmless for
        details (a retry repeats the same upsert); a retried sign-up would then get a 409.

        Other errors propagate as 500s with a request id: a missing table or a denied
        action is a deployment bug that retrying cannot fix and a 503 would hide. Those
        become a ConfigurationError naming the table; the rest (validation errors, i.e.
        bugs here) stay botocore's own.
        """
        try:
            yield
        except ClientError as exc:
            code = error_code(exc)
            if code in UNAVAILABLE_CODES:
                raise StoreUnavailable(f"dynamodb: {code}") from exc
            if code in MISCONFIGURED_CODES:
                raise ConfigurationError(
                    f"USERS_TABLE {self.table!r} cannot be used: {code}: "
                    f"{exc.response.get('Error', {}).get('Message', '')}"
                ) from exc
            raise
        except UNAVAILABLE_ERRORS as exc:
            raise StoreUnavailable(f"dynamodb: {exc}") from exc


def string(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else value["S"]


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")
