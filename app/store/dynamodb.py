"""DynamoDB backend: what the function uses in AWS (USERS_TABLE set).

Data model (one table, declared in serverless.yml), one item per user:

    pk = "USER#<lower-cased username>"   sk = "PROFILE"
    username                    the spelling GET returns
    created_at, token           set once an account exists (sign-up)
    password_hash?              set for a protected account
    account_firstname?          the firstname given at sign-up
    details_firstname?, lastname?, updated_at?    set by POST /userDetails

One item, so every operation is one single-item write, which DynamoDB applies atomically
under its per-item lock, with the item's own attributes as the condition. No transaction
(which would cost twice the write units) is needed:

- create_account: UpdateItem with attribute_not_exists(created_at): exactly one winner,
  whatever the case of the name each caller used. Details posted before do not make the
  name look taken. A password sign-up (a claim) REMOVEs them in the same write.
- put_details: UpdateItem (an upsert) conditioned on the password hash the caller was
  authorised against (attribute_not_exists for an open or absent account), so a claim that
  lands between the check and the write makes the write fail rather than leak details in.
- get_user: one strongly consistent GetItem ("GET returns what was just posted").
- replace_password_hash: UpdateItem conditioned on the old hash.

Two actions in all (UpdateItem, GetItem), so the IAM policy can be exact.

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

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from app.store import (
    AccountChanged,
    ConfigurationError,
    StoredUser,
    StoreUnavailable,
    UsernameTaken,
    user_key,
)
from app.store.dynamodb_client import DynamoDBClient, build_client

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


CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 0.5
MAX_ATTEMPTS = 3
# Most a request makes that can each run into the timeouts: read the account, write the
# details (which clears the count of wrong passwords), and one of: store the upgraded hash
# of a legacy one, claim an attempt on a guarded account (app/auth.py: verified_hash keeps
# to this budget), count a wrong password, clear the count. The 403 path makes two reads
# and one of the last three. Without credentials a details write is one conditional write, refused
# (401) when the account is protected. A details write that loses a race (a sign-up or a
# hash upgrade landing between its read and its write) is a 409, not retried (app/users.py):
# a retry would add a read, a claim and a write.
MAX_CALLS_PER_REQUEST = 3


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """How patient the client is. The defaults fit the 10 s function timeout:

    one call, worst case = max_attempts * (connect_timeout + read_timeout) + backoff
                         = 3 * (0.5 s + 0.5 s) + ~0.1 s (botocore's DynamoDB backoff for
                           transient errors is rand * 25 ms * 2^i) = ~3.1 s.
    Throttling answers arrive at once but back off longer (rand * 1 s * 2^i): three
    throttled attempts cost at most ~3 s. A request makes at most MAX_CALLS_PER_REQUEST
    calls, ~9.2 s in the worst case, which leaves room for an argon2id verification
    (~20 ms) within the timeout. In-region DynamoDB answers in milliseconds; half a second
    is already a failure. (DNS lookups are not bounded by connect_timeout.)
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
        backoff = sum(0.025 * 2.0**i for i in range(self.max_attempts - 1))
        return self.max_attempts * (self.connect_timeout + self.read_timeout) + backoff


@functools.cache
def shared_client(settings: ClientSettings) -> DynamoDBClient:
    """One client per process and settings: building one costs tens of milliseconds
    (service model loading), and a client keeps its connection pool warm between
    invocations. botocore clients are thread-safe; a session is not, so each gets its own."""
    return build_client(
        endpoint_url=settings.endpoint_url,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_attempts=settings.max_attempts,
    )


# A forked child must not share the parent's pooled sockets: two processes writing to one
# TCP connection interleave their requests. Each child builds its own client instead.
os.register_at_fork(after_in_child=shared_client.cache_clear)


PROFILE = "PROFILE"
# Attributes that only details writes set; a claim removes them.
DETAILS_ATTRIBUTES = ("details_firstname", "lastname", "updated_at")


def key(username: str) -> dict[str, dict[str, str]]:
    # Usernames are [A-Za-z0-9_.@-]{1,64} (app/validation.py): no '#', so no ambiguity.
    return {"pk": {"S": f"USER#{user_key(username)}"}, "sk": {"S": PROFILE}}


class Update:
    """An UpdateExpression built from named parts, with its placeholder maps."""

    def __init__(self) -> None:
        self.sets: list[str] = []
        self.removes: list[str] = []
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attribute: str) -> str:
        self.names[f"#{attribute}"] = attribute
        return f"#{attribute}"

    def value(self, attribute: str, value: dict[str, str]) -> str:
        self.values[f":{attribute}"] = value
        return f":{attribute}"

    def set(self, attribute: str, value: dict[str, str]) -> None:
        self.sets.append(f"{self.name(attribute)} = {self.value(attribute, value)}")

    def set_if_absent(self, attribute: str, value: dict[str, str]) -> None:
        placeholder = self.name(attribute)
        self.sets.append(
            f"{placeholder} = if_not_exists({placeholder}, {self.value(attribute, value)})"
        )

    def increment(self, attribute: str) -> None:
        placeholder = self.name(attribute)
        self.values[":zero"], self.values[":one"] = {"N": "0"}, {"N": "1"}
        self.sets.append(f"{placeholder} = if_not_exists({placeholder}, :zero) + :one")

    def remove(self, attribute: str) -> None:
        self.removes.append(self.name(attribute))

    def expression(self) -> str:
        parts = ["SET " + ", ".join(self.sets)] if self.sets else []
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        return " ".join(parts)


def hash_condition(update: Update, expected_hash: str | None) -> str:
    name = update.name("password_hash")
    if expected_hash is None:
        return f"attribute_not_exists({name})"
    update.values[":expected_hash"] = {"S": expected_hash}
    return f"{name} = :expected_hash"


class DynamoUserStore:
    def __init__(self, table: str, settings: ClientSettings | None = None) -> None:
        self.table = table
        # Built now, in create_app (Lambda's init phase), not on the first request: import +
        # create_app + first request cost the same either way, but the first request is
        # faster, and init is where provisioned concurrency and SnapStart pay ahead of time,
        # and where a missing region fails.
        self.client = shared_client(settings or ClientSettings())

    def create_account(
        self, username: str, password_hash: str | None, firstname: str | None
    ) -> None:
        # A per-call marker (botocore's retries resend the same request): if a retry follows
        # an attempt that landed but whose response was lost, it fails the condition against
        # our own write. ALL_OLD hands that item back in the same call, so no extra read
        # (and no extra IAM action) is needed to tell that the account is ours.
        token = secrets.token_hex(16)
        update = Update()
        update.set("username", {"S": username})
        update.set("created_at", {"N": repr(time.time())})
        update.set("token", {"S": token})
        if password_hash is not None:
            update.set("password_hash", {"S": password_hash})
            for attribute in DETAILS_ATTRIBUTES:
                update.remove(attribute)  # the claim: earlier details are not the owner's
        if firstname is not None:
            update.set("account_firstname", {"S": firstname})
        condition = f"attribute_not_exists({update.name('created_at')})"
        refused = self.conditional_update(
            username, update, condition, ReturnValuesOnConditionCheckFailure="ALL_OLD"
        )
        if refused is None:
            return
        if (refused.get("Item") or {}).get("token") == {"S": token}:
            return  # our own earlier attempt won; the retry only saw it
        raise UsernameTaken(username)

    def put_details(
        self, username: str, firstname: str | None, lastname: str, *, expected_hash: str | None
    ) -> None:
        update = Update()
        update.set("lastname", {"S": lastname})
        update.set("updated_at", {"N": repr(time.time())})
        update.set_if_absent("username", {"S": username})
        if firstname is not None:
            update.set("details_firstname", {"S": firstname})
        if expected_hash is not None:  # authorised by the password: its wrong ones are over
            update.remove("failed_logins")
            update.remove("failed_at")
        condition = hash_condition(update, expected_hash)
        if self.conditional_update(username, update, condition) is not None:
            raise AccountChanged(username)

    def get_user(self, username: str) -> StoredUser | None:
        with self.translated_errors():
            response = self.client.get_item(
                TableName=self.table, Key=key(username), ConsistentRead=True
            )
        item = response.get("Item")
        if item is None:
            return None
        details_firstname = string(item, "details_firstname")
        return StoredUser(
            username=string(item, "username") or username,
            firstname=details_firstname
            if details_firstname is not None
            else string(item, "account_firstname"),
            lastname=string(item, "lastname"),
            has_account="created_at" in item,
            password_hash=string(item, "password_hash"),
            failed_logins=int(number(item, "failed_logins") or 0),
            failed_at=number(item, "failed_at"),
        )

    def replace_password_hash(self, username: str, old_hash: str, new_hash: str) -> None:
        update = Update()
        update.set("password_hash", {"S": new_hash})
        update.remove("failed_logins")
        update.remove("failed_at")
        condition = hash_condition(update, old_hash)
        # A refusal means the hash changed meanwhile: the newer one stands.
        self.conditional_update(username, update, condition)

    def record_failed_login(self, username: str, password_hash: str, at: float) -> None:
        update = Update()
        update.increment("failed_logins")
        update.set("failed_at", {"N": repr(at)})
        # Refused: the hash changed meanwhile, and the guess was against the old password.
        self.conditional_update(username, update, hash_condition(update, password_hash))

    def claim_login_attempt(self, username: str, password_hash: str, seen: int, at: float) -> bool:
        update = Update()
        update.set("failed_logins", {"N": str(seen + 1)})
        update.set("failed_at", {"N": repr(at)})
        condition = hash_condition(update, password_hash)
        update.values[":seen"] = {"N": str(seen)}
        count = update.name("failed_logins")
        seen_it = f"{count} = :seen" + (f" OR attribute_not_exists({count})" if seen == 0 else "")
        condition += f" AND ({seen_it})"
        return self.conditional_update(username, update, condition) is None

    def clear_failed_logins(self, username: str, password_hash: str) -> None:
        update = Update()
        update.remove("failed_logins")
        update.remove("failed_at")
        self.conditional_update(username, update, hash_condition(update, password_hash))

    def conditional_update(
        self, username: str, update: Update, condition: str, **options: Any
    ) -> dict[str, Any] | None:
        """One UpdateItem on the user's item. None when it was applied; DynamoDB's answer
        (the old item, when asked for) when the condition refused it and nothing changed."""
        try:
            with self.translated_errors():
                self.client.update_item(
                    TableName=self.table,
                    Key=key(username),
                    UpdateExpression=update.expression(),
                    ConditionExpression=condition,
                    ExpressionAttributeNames=update.names,
                    ExpressionAttributeValues=update.values,
                    **options,
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            answer: dict[str, Any] = exc.response
            return answer
        return None

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


def number(item: Mapping[str, Any], name: str) -> float | None:
    value = item.get(name)
    return None if value is None else float(value["N"])


def error_code(exc: ClientError) -> str:
    code: str = exc.response.get("Error", {}).get("Code", "")
    return code
