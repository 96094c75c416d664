"""DynamoDB backend: what the function uses in AWS (USERS_TABLE set).

The data model (one item per user) and the conditional operation each request makes are
described in docs/data-model.md, the one place for them. Every write is a single-item
UpdateItem or DeleteItem, which DynamoDB applies atomically under its per-item lock with
the item's own attributes as the condition; reads are strongly consistent GetItems.

The client is app/store/dynamodb_client.py's, behind its narrow seam (an operation name
and its JSON in, JSON or a typed error out); neither boto3 nor botocore is imported.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask, request

from app.config import ConfigurationError
from app.store import (
    FORGET_FAILURES_AFTER,
    AccountChanged,
    Failures,
    StoredUser,
    StoreUnavailable,
    UsernameTaken,
    user_key,
)
from app.store.dynamodb_client import (
    ConditionalCheckFailed,
    DynamoDBClient,
    DynamoDBJson,
    DynamoDBRefused,
    DynamoDBUnavailable,
    remaining_time,
)

CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 0.5
MAX_ATTEMPTS = 3
# Most a request makes that can each run into the timeouts (app/auth.py keeps to it): read
# the account; count the attempt (a claim past the free failures, or a wrong password; a
# wrong one may take two when it restarts an expired record, and then the request ends);
# then one write of the request's own (details, erasure, password change, each of which
# clears the count) or, for a read, one that settles the login (an upgraded hash, or the
# count cleared). The 403 path makes two reads and counts one attempt (a fourth call only
# in that rare restart, when a guess races another from the same client). Without credentials
# a details write is one conditional write, refused (401) when the account is protected.
# A write that loses a race to a claim is retried once (app/users.py), adding a read and a
# write, but only after DynamoDB has just answered the refused write.
MAX_CALLS_PER_REQUEST = 3


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """How patient the client is. The defaults fit the 10 s function timeout:

    one call, worst case = max_attempts * (connect_timeout + read_timeout) + backoff
                         (the standard retry mode's DynamoDB backoff for transient errors
                         is rand * 25 ms * 2^i).
    Throttling answers arrive at once but back off longer (rand * 1 s * 2^i). A request
    makes at most MAX_CALLS_PER_REQUEST calls, which must fit the function's timeout with
    room for a password hash (tests/test_dynamodb.py checks the sum); and no retry starts
    that the invocation's remaining time cannot hold. In-region DynamoDB answers in
    milliseconds; half a second is already a failure. (DNS lookups are not bounded.)
    """

    endpoint_url: str | None = None  # None: AWS_ENDPOINT_URL_DYNAMODB, or the region's
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
    """One client per process and settings: it keeps its connection open between
    invocations, and its credentials cached."""
    return DynamoDBClient(
        endpoint_url=settings.endpoint_url,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_attempts=settings.max_attempts,
    )


# A forked child must not share the parent's sockets: two processes writing to one TCP
# connection interleave their requests. Each child builds its own client instead.
os.register_at_fork(after_in_child=shared_client.cache_clear)


def track_remaining_time(app: Flask) -> None:
    """Let the client see the invocation's remaining time, so that it starts no retry the
    function's timeout would cut short (serverless-wsgi puts Lambda's context in environ)."""

    @app.before_request
    def remember_remaining_time() -> None:
        context = request.environ.get("serverless.context")
        millis = getattr(context, "get_remaining_time_in_millis", None)
        remaining_time.set(None if millis is None else lambda: millis() / 1000)


PROFILE = "PROFILE"
# Attributes that only details writes set; a claim removes them.
DETAILS_ATTRIBUTES = ("details_firstname", "lastname", "updated_at")


# Wrong passwords per client address: two numbers per client, named for the password they
# were guesses at (a fingerprint of its hash) and the address, so that a new hash leaves
# them unread, and a write can count one client's atomically (if_not_exists + 1).
FAILURES_PREFIX = "failures:"
FAILED_AT_PREFIX = "failed_at:"


def fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def failure_names(password_hash: str, client: str) -> tuple[str, str]:
    tail = f"{fingerprint(password_hash)}:{client}"
    return FAILURES_PREFIX + tail, FAILED_AT_PREFIX + tail


def read_failures(
    item: Mapping[str, Any], password_hash: str | None, now: float
) -> tuple[dict[str, Failures], tuple[str, ...]]:
    """The item's current failure records by client, and the names of the others (kept
    under an earlier password, or older than FORGET_FAILURES_AFTER)."""
    current: dict[str, Failures] = {}
    expired: list[str] = []
    mine = f"{fingerprint(password_hash)}:" if password_hash is not None else None
    for name in item:
        if not name.startswith(FAILURES_PREFIX):
            continue
        tail = name.removeprefix(FAILURES_PREFIX)
        at = number(item, FAILED_AT_PREFIX + tail)
        recent = at is not None and at > now - FORGET_FAILURES_AFTER
        if mine is not None and tail.startswith(mine) and at is not None and recent:
            current[tail.removeprefix(mine)] = Failures(int(number(item, name) or 0), at)
            continue
        expired += [name, FAILED_AT_PREFIX + tail]
    return current, tuple(expired)


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
        placeholder = "#" + self.token(attribute)
        self.names[placeholder] = attribute
        return placeholder

    def value(self, attribute: str, value: dict[str, str]) -> str:
        placeholder = ":" + self.token(attribute)
        self.values[placeholder] = value
        return placeholder

    def token(self, attribute: str) -> str:
        """A placeholder's body: the name itself when it is a plain word; else a numbered
        one (failure records are named by client address, with ':' and '.')."""
        if attribute.isidentifier():
            return attribute
        known = {name: placeholder[1:] for placeholder, name in self.names.items()}
        return known.get(attribute) or f"a{len(self.names)}"

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
    def __init__(
        self,
        table: str,
        settings: ClientSettings | None = None,
        *,
        client: DynamoDBJson | None = None,
    ) -> None:
        self.table = table
        # Built now, in create_app (Lambda's init phase), not on the first request: init is
        # where provisioned concurrency and SnapStart pay ahead of time, and where missing
        # credentials or region fail. ``client``: another client behind the same seam.
        self.client: DynamoDBJson = client or shared_client(settings or ClientSettings())

    def create_account(
        self, username: str, password_hash: str | None, firstname: str | None
    ) -> None:
        # A per-call marker (the client's retries resend the same request): if a retry follows
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
        self,
        username: str,
        firstname: str | None,
        lastname: str,
        *,
        expected_hash: str | None,
        client: str | None = None,
    ) -> None:
        update = Update()
        update.set("lastname", {"S": lastname})
        update.set("updated_at", {"N": repr(time.time())})
        update.set_if_absent("username", {"S": username})
        if firstname is not None:
            update.set("details_firstname", {"S": firstname})
        if expected_hash is not None and client is not None:
            for name in failure_names(expected_hash, client):  # authorised: its guesses end
                update.remove(name)
        condition = hash_condition(update, expected_hash)
        if self.conditional_update(username, update, condition) is not None:
            raise AccountChanged(username)

    def erase_user(self, username: str, *, expected_hash: str | None) -> None:
        placeholders = Update()  # only its name and value maps: a delete has no update
        # attribute_exists: deleting an absent item would otherwise "succeed".
        exists = f"attribute_exists({placeholders.name('pk')})"
        condition = f"{exists} AND {hash_condition(placeholders, expected_hash)}"
        values = {"ExpressionAttributeValues": placeholders.values} if placeholders.values else {}
        try:
            with self.translated_errors():
                self.client.call(
                    "DeleteItem",
                    {
                        "TableName": self.table,
                        "Key": key(username),
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": placeholders.names,
                        **values,
                    },
                )
        except ConditionalCheckFailed:
            raise AccountChanged(username) from None

    def get_user(self, username: str) -> StoredUser | None:
        with self.translated_errors():
            response = self.client.call(
                "GetItem", {"TableName": self.table, "Key": key(username), "ConsistentRead": True}
            )
        item = response.get("Item")
        if item is None:
            return None
        details_firstname = string(item, "details_firstname")
        password_hash = string(item, "password_hash")
        failures, expired = read_failures(item, password_hash, time.time())
        return StoredUser(
            username=string(item, "username") or username,
            firstname=details_firstname
            if details_firstname is not None
            else string(item, "account_firstname"),
            lastname=string(item, "lastname"),
            has_account="created_at" in item,
            password_hash=password_hash,
            failures=failures,
            expired_failures=expired,
        )

    def change_password_hash(self, username: str, old_hash: str, new_hash: str) -> None:
        update = Update()
        update.set("password_hash", {"S": new_hash})  # older failure records go unread
        condition = hash_condition(update, old_hash)
        if self.conditional_update(username, update, condition) is not None:
            raise AccountChanged(username)

    def replace_password_hash(self, username: str, old_hash: str, new_hash: str) -> None:
        with contextlib.suppress(AccountChanged):  # a concurrent change stands
            self.change_password_hash(username, old_hash, new_hash)

    def record_failed_login(self, user: StoredUser, client: str, at: float) -> None:
        assert user.password_hash is not None
        count, stamp = failure_names(user.password_hash, client)
        if count in user.expired_failures and self.restart_failures(user, count, stamp, at):
            return
        update = Update()
        update.increment(count)  # atomic: guesses arriving together all count
        update.set(stamp, {"N": repr(at)})
        for name in user.expired_failures:
            if name not in (count, stamp):
                update.remove(name)
        # Refused: the hash changed meanwhile, and the guess was against the old password.
        self.conditional_update(user.username, update, hash_condition(update, user.password_hash))

    def restart_failures(self, user: StoredUser, count: str, stamp: str, at: float) -> bool:
        """Start the client's expired record over at 1, only while it is still expired.
        False when a concurrent guess restarted it first (then count on top of that)."""
        assert user.password_hash is not None
        update = Update()
        update.set(count, {"N": "1"})
        update.set(stamp, {"N": repr(at)})
        condition = hash_condition(update, user.password_hash)
        update.values[":forget_before"] = {"N": repr(at - FORGET_FAILURES_AFTER)}
        condition += f" AND {update.name(stamp)} <= :forget_before"
        return self.conditional_update(user.username, update, condition) is None

    def claim_login_attempt(self, user: StoredUser, client: str, at: float) -> bool:
        assert user.password_hash is not None
        seen = user.failures_from(client).count
        count, stamp = failure_names(user.password_hash, client)
        update = Update()
        update.set(count, {"N": str(seen + 1)})
        update.set(stamp, {"N": repr(at)})
        condition = hash_condition(update, user.password_hash)
        update.values[":seen"] = {"N": str(seen)}
        placeholder = update.name(count)
        seen_it = f"{placeholder} = :seen" + (
            f" OR attribute_not_exists({placeholder})" if seen == 0 else ""
        )
        condition += f" AND ({seen_it})"
        return self.conditional_update(user.username, update, condition) is None

    def clear_failed_logins(self, username: str, password_hash: str, client: str) -> None:
        update = Update()
        for name in failure_names(password_hash, client):
            update.remove(name)
        self.conditional_update(username, update, hash_condition(update, password_hash))

    def conditional_update(
        self, username: str, update: Update, condition: str, **options: Any
    ) -> dict[str, Any] | None:
        """One UpdateItem on the user's item. None when it was applied; DynamoDB's answer
        (the old item, when asked for) when the condition refused it and nothing changed."""
        try:
            with self.translated_errors():
                self.client.call(
                    "UpdateItem",
                    {
                        "TableName": self.table,
                        "Key": key(username),
                        "UpdateExpression": update.expression(),
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": update.names,
                        "ExpressionAttributeValues": update.values,
                        **options,
                    },
                )
        except ConditionalCheckFailed as exc:
            return {} if exc.item is None else {"Item": exc.item}
        return None

    @contextmanager
    def translated_errors(self) -> Iterator[None]:
        """Map the client's errors onto the store's.

        Once the retries are spent, "not now" becomes StoreUnavailable (a 503 with
        Retry-After). DynamoDB applies a write entirely or not at all, so nothing is
        half-written, and a throttled, refused or unreachable attempt wrote nothing. Only
        a write whose every answer timed out may have landed unseen: harmless for details
        (a retry repeats the same upsert); a retried sign-up would then get a 409.

        A missing table, a denied action or refused credentials are deployment bugs that
        retrying cannot fix and a 503 would hide: a ConfigurationError naming the table (a
        500 with a request id). The rest (validation errors, i.e. bugs here) stay the
        client's own DynamoDBError, also a 500.
        """
        try:
            yield
        except DynamoDBUnavailable as exc:
            raise StoreUnavailable(f"dynamodb: {exc.code}") from exc
        except DynamoDBRefused as exc:
            raise ConfigurationError(
                f"USERS_TABLE {self.table!r} cannot be used: {exc.code}: {exc.message}"
            ) from exc


def string(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else value["S"]


def number(item: Mapping[str, Any], name: str) -> float | None:
    value = item.get(name)
    return None if value is None else float(value["N"])
