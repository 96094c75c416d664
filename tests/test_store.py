"""The store contract, on every backend, against real storage: a real SQLite file, and
Amazon's DynamoDB Local (which locks per item) over HTTP on 127.0.0.1."""

from __future__ import annotations

import itertools
import multiprocessing
import multiprocessing.context
import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from app import auth, create_app
from app.passwords import verify_password
from app.store import (
    FORGET_FAILURES_AFTER,
    AccountChanged,
    StoredUser,
    UsernameTaken,
    UserStore,
)
from tests.stores import (
    BACKENDS,
    DYNAMODB_BACKENDS,
    DynamoTable,
    app_config,
    basic_auth,
    open_backend,
)

pytest_plugins = ["tests.conftest_dynamo"]

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def table(backend: str, request: pytest.FixtureRequest) -> DynamoTable | None:
    # Only DynamoDB runs start the server; a fresh table per test keeps tests independent.
    return request.getfixturevalue("dynamo_table") if backend in DYNAMODB_BACKENDS else None


@pytest.fixture
def store(backend: str, tmp_path: Path, table: DynamoTable | None) -> UserStore:
    return open_backend(backend, tmp_path, table)


def test_unknown_user_is_none(store: UserStore) -> None:
    assert store.get_user("nobody") is None


def test_account_then_lookup(store: UserStore) -> None:
    store.create_account("sam", None, "john")
    assert store.get_user("sam") == StoredUser("sam", "john", None, has_account=True)


def test_second_sign_up_is_refused_and_changes_nothing(store: UserStore) -> None:
    store.create_account("sam", "hash-1", "john")
    with pytest.raises(UsernameTaken):
        store.create_account("sam", "hash-2", "jane")
    user = store.get_user("sam")
    assert user == StoredUser("sam", "john", None, has_account=True)
    assert user is not None and user.password_hash == "hash-1"


def test_names_are_one_identity_whatever_their_case(store: UserStore) -> None:
    store.create_account("Sam", None, "john")
    for spelling in ("sam", "SAM", "sAm"):
        with pytest.raises(UsernameTaken):
            store.create_account(spelling, None, None)
        assert store.get_user(spelling) == StoredUser("Sam", "john", None, has_account=True)


def test_details_are_an_upsert(store: UserStore) -> None:
    store.put_details("sam", "john", "king", expected_hash=None)
    store.put_details("SAM", None, "queen", expected_hash=None)  # no firstname: keep the old
    assert store.get_user("sam") == StoredUser("sam", "john", "queen", has_account=False)
    store.put_details("sam", "jack", "queen", expected_hash=None)
    assert store.get_user("Sam") == StoredUser("sam", "jack", "queen", has_account=False)


def test_details_before_an_open_sign_up_stay_and_allow_one_sign_up(store: UserStore) -> None:
    store.put_details("sam", "john", "king", expected_hash=None)
    store.create_account("Sam", None, "johnny")
    with pytest.raises(UsernameTaken):
        store.create_account("sam", None, None)
    # An open account is anyone's to post to: the details stay; the sign-up's spelling wins.
    assert store.get_user("sam") == StoredUser("Sam", "john", "king", has_account=True)


def test_a_password_sign_up_claims_the_name_and_drops_earlier_details(store: UserStore) -> None:
    store.put_details("bob", "Squatter", "Details", expected_hash=None)
    store.create_account("Bob", "hash-1", "Robert")
    user = store.get_user("bob")
    assert user == StoredUser("Bob", "Robert", None, has_account=True)
    assert user is not None and user.password_hash == "hash-1"


def test_details_are_written_only_under_the_hash_they_were_authorised_against(
    store: UserStore,
) -> None:
    store.create_account("sam", "hash-1", None)
    with pytest.raises(AccountChanged):
        store.put_details("sam", "x", "open-writer", expected_hash=None)
    with pytest.raises(AccountChanged):
        store.put_details("sam", "x", "stale", expected_hash="hash-0")
    assert store.get_user("sam") == StoredUser("sam", None, None, has_account=True)
    store.put_details("sam", "x", "owner", expected_hash="hash-1")
    assert store.get_user("sam") == StoredUser("sam", "x", "owner", has_account=True)


def test_a_claim_between_check_and_write_makes_the_open_write_fail(store: UserStore) -> None:
    store.put_details("eve", None, "first", expected_hash=None)
    before = store.get_user("eve")
    assert before is not None and not before.protected  # the writer checked: open
    store.create_account("eve", "hash-1", None)  # the owner claims the name meanwhile
    with pytest.raises(AccountChanged):
        store.put_details("eve", "Mallory", "squat", expected_hash=None)
    assert store.get_user("eve") == StoredUser("eve", None, None, has_account=True)


def test_erasure_is_conditional_on_the_hash_and_leaves_nothing(store: UserStore) -> None:
    store.create_account("sam", "hash-1", "john")
    store.put_details("sam", None, "king", expected_hash="hash-1")
    with pytest.raises(AccountChanged):
        store.erase_user("sam", expected_hash=None)  # an open-account erasure, claimed since
    with pytest.raises(AccountChanged):
        store.erase_user("sam", expected_hash="hash-0")  # the password changed since
    assert store.get_user("sam") == StoredUser("sam", "john", "king", has_account=True)
    store.erase_user("SAM", expected_hash="hash-1")
    assert store.get_user("sam") is None
    with pytest.raises(AccountChanged):
        store.erase_user("sam", expected_hash="hash-1")  # nothing left to erase
    store.create_account("Sam", None, None)  # the name is free again, with no trace
    assert store.get_user("sam") == StoredUser("Sam", None, None, has_account=True)
    store.erase_user("sam", expected_hash=None)
    store.put_details("pat", "p", "q", expected_hash=None)
    store.erase_user("pat", expected_hash=None)
    assert store.get_user("pat") is None


def test_a_password_change_is_conditional_on_the_hash_and_starts_the_count_over(
    store: UserStore,
) -> None:
    store.create_account("sam", "hash-1", None)
    fail(store, "sam", LOCAL, time.time())
    with pytest.raises(AccountChanged):
        store.change_password_hash("sam", "hash-0", "hash-x")  # another change won
    user = store.get_user("sam")
    assert user is not None and (user.password_hash, len(user.failures)) == ("hash-1", 1)
    store.change_password_hash("SAM", "hash-1", "hash-2")
    user = store.get_user("sam")
    assert user is not None and (user.password_hash, user.failures) == ("hash-2", {})
    with pytest.raises(AccountChanged):
        store.change_password_hash("nobody", "hash-1", "hash-2")
    assert store.get_user("nobody") is None  # no item made up by a refused change


def test_the_hash_is_replaced_only_if_unchanged(store: UserStore) -> None:
    store.create_account("sam", "hash-1", None)
    store.replace_password_hash("sam", "hash-0", "hash-x")  # stale: ignored
    store.replace_password_hash("SAM", "hash-1", "hash-2")

    user = store.get_user("sam")
    assert user is not None and user.password_hash == "hash-2"


LOCAL = "127.0.0.1"  # the Flask test client's address
ELSEWHERE = "2001:db8::7"


def fail(store: UserStore, username: str, client: str, at: float) -> None:
    """A wrong password from ``client``, recorded as app/auth.py does: on the user as read."""
    user = store.get_user(username)
    assert user is not None
    store.record_failed_login(user, client, at)


def failures(store: UserStore, username: str) -> dict[str, tuple[int, float | None]]:
    user = store.get_user(username)
    assert user is not None
    return {client: (f.count, f.at) for client, f in user.failures.items()}


def test_failed_logins_count_per_client_under_the_hash_and_clear(store: UserStore) -> None:
    now = time.time()
    store.create_account("sam", "hash-1", None)
    fail(store, "sam", LOCAL, now - 2)
    fail(store, "SAM", LOCAL, now - 1)
    fail(store, "sam", ELSEWHERE, now)
    assert failures(store, "sam") == {LOCAL: (2, now - 1), ELSEWHERE: (1, now)}
    stale = store.get_user("sam")
    store.change_password_hash("sam", "hash-1", "hash-2")
    assert stale is not None
    store.record_failed_login(stale, LOCAL, now)  # a guess at a password no longer there
    assert failures(store, "sam") == {}  # every client starts over under the new password
    fail(store, "sam", LOCAL, now)
    fail(store, "sam", ELSEWHERE, now)
    store.clear_failed_logins("sam", "hash-0", LOCAL)  # stale: ignored
    assert failures(store, "sam") == {LOCAL: (1, now), ELSEWHERE: (1, now)}
    store.clear_failed_logins("sam", "hash-2", LOCAL)  # a right password from LOCAL
    assert failures(store, "sam") == {ELSEWHERE: (1, now)}
    store.put_details("sam", None, "king", expected_hash="hash-2", client=ELSEWHERE)
    assert failures(store, "sam") == {}


def test_a_clients_failures_are_forgotten_a_day_after_its_last(store: UserStore) -> None:
    now = time.time()
    store.create_account("sam", "hash-1", None)
    long_ago = now - FORGET_FAILURES_AFTER - 1
    fail(store, "sam", LOCAL, long_ago)
    fail(store, "sam", ELSEWHERE, long_ago)
    assert failures(store, "sam") == {}
    fail(store, "sam", LOCAL, now)  # starts over, and the expired record is deleted
    assert failures(store, "sam") == {LOCAL: (1, now)}


def test_an_attempt_is_claimed_once_for_the_count_it_saw(store: UserStore) -> None:
    now = time.time()
    store.create_account("sam", "hash-1", None)
    fail(store, "sam", LOCAL, now - 10)
    seen = store.get_user("sam")
    assert seen is not None
    assert store.claim_login_attempt(seen, LOCAL, now)
    assert not store.claim_login_attempt(seen, LOCAL, now + 1)  # another got there first
    assert failures(store, "sam") == {LOCAL: (2, now)}
    store.change_password_hash("sam", "hash-1", "hash-2")
    assert not store.claim_login_attempt(seen, ELSEWHERE, now)  # the hash changed
    assert failures(store, "sam") == {}


def test_erasure_leaves_no_failure_records(store: UserStore) -> None:
    store.create_account("sam", "hash-1", None)
    fail(store, "sam", ELSEWHERE, time.time())
    store.erase_user("sam", expected_hash="hash-1")
    store.create_account("sam", "hash-1", None)  # the same hash, even: nothing comes back
    assert failures(store, "sam") == {}


def in_a_fresh_process() -> multiprocessing.context.BaseContext:
    """Workers from a forkserver: forking the (multi-threaded) pytest-xdist worker itself is
    unsafe. The forkserver may predate this test's environment, so each worker is handed
    os.environ (the dummy AWS credentials) explicitly."""
    return multiprocessing.get_context("forkserver")


def guess_at_once(config: dict[str, Any], env: dict[str, str], barrier, results) -> None:
    os.environ.update(env)
    client = create_app(config).test_client()
    barrier.wait()
    response = client.get("/userDetails?username=sam", headers=basic_auth("sam", "a-guess-123"))
    results.put(response.status_code)


def guesses_together(config: dict[str, Any], count: int) -> list[int]:
    """The statuses of ``count`` wrong guesses for sam, sent at once from forked processes
    (each its own app and store client, as separate Lambda containers would be)."""
    context = in_a_fresh_process()
    barrier, results = context.Barrier(count), context.Queue()
    env = dict(os.environ)
    workers = [
        context.Process(target=guess_at_once, args=(config, env, barrier, results))
        for _ in range(count)
    ]
    for worker in workers:
        worker.start()
    statuses = sorted(results.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
    return statuses


def signed_up_sam(config: dict[str, Any]) -> FlaskClient:
    client = create_app(config).test_client()
    form = "username=sam&password=the-password-1"
    assert client.post("/userSignUp", data=form, headers=FORM).status_code == 200
    return client


@pytest.mark.slow
def test_concurrent_wrong_passwords_all_count(
    backend: str, tmp_path: Path, table: DynamoTable | None
) -> None:
    """Eight guesses at once on a fresh account: every guess that was checked is counted
    (one atomic increment each), so none slips past the wait uncounted. How many are
    checked depends on the interleaving: all eight if all read the account before any was
    counted, the five free ones if they ran one after another; the rest wait (429)."""
    config = app_config(backend, tmp_path, table)
    client = signed_up_sam(config)
    statuses = guesses_together(config, 8)
    checked = statuses.count(401)
    assert checked >= auth.FREE_FAILURES and statuses == [401] * checked + [429] * (8 - checked)
    user = open_backend(backend, tmp_path, table).get_user("sam")
    assert user is not None and user.failures_from(LOCAL).count == checked
    right = basic_auth("sam", "the-password-1")
    assert client.get("/userDetails?username=sam", headers=right).status_code == 429


@pytest.mark.slow
def test_once_guarded_concurrent_guesses_get_one_hash_between_them(
    backend: str, tmp_path: Path, table: DynamoTable | None
) -> None:
    """Past the free failures, attempts arriving together are claimed one at a time: one
    is checked (401), the others wait (429) without hashing."""
    config = app_config(backend, tmp_path, table)
    signed_up_sam(config)
    store = open_backend(backend, tmp_path, table)
    user = store.get_user("sam")
    assert user is not None and user.password_hash is not None
    for _ in range(auth.FREE_FAILURES):  # long enough ago that the wait is over
        fail(store, "sam", LOCAL, time.time() - 3600)
    assert guesses_together(config, 8) == [401] + [429] * 7
    after = store.get_user("sam")
    assert after is not None and after.failures_from(LOCAL).count == auth.FREE_FAILURES + 1


def test_an_older_sqlite_file_gets_the_new_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "users.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE users (key TEXT PRIMARY KEY, username TEXT NOT NULL, password_hash TEXT,"
        " account_firstname TEXT, created_at REAL, details_firstname TEXT, lastname TEXT,"
        " updated_at REAL) WITHOUT ROWID;"
        "INSERT INTO users (key, username, lastname, created_at) VALUES ('sam', 'Sam', 'king', 1);"
    )
    old.close()
    store = open_backend("sqlite", tmp_path)
    user = store.get_user("sam")
    assert user is not None and (user.username, user.lastname, user.failures) == (
        "Sam",
        "king",
        {},
    )


def sign_up_at_once(
    config: dict[str, Any], env: dict[str, str], username: str, barrier, results
) -> None:
    os.environ.update(env)
    app = create_app(config)
    client = app.test_client()
    form = f"username={username}&password=racing-password-1"
    barrier.wait()
    response = client.post("/userSignUp", data=form, headers=FORM)
    results.put((response.status_code, response.get_data(as_text=True)))


@pytest.mark.slow
def test_sixteen_processes_race_for_one_name_in_sixteen_spellings(
    backend: str, tmp_path: Path, table: DynamoTable | None
) -> None:
    """Exactly one winner; the rest get a clean 409, never 'database is locked' or 500."""
    spellings = sorted({"".join(c) for c in itertools.product(*zip("race", "RACE", strict=True))})
    assert len(spellings) == 16
    context = in_a_fresh_process()
    barrier = context.Barrier(len(spellings))
    results = context.Queue()
    # A fresh store: for SQLite, schema creation races too; each worker builds its own
    # app and DynamoDB client, as separate Lambda containers would.
    config, env = app_config(backend, tmp_path, table), dict(os.environ)
    workers = [
        context.Process(target=sign_up_at_once, args=(config, env, spelling, barrier, results))
        for spelling in spellings
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    statuses = sorted(status for status, _ in outcomes)
    assert statuses == [200] + [409] * 15, outcomes


def change_at_once(config: dict[str, Any], new_password: str, barrier, results) -> None:
    client = create_app(config).test_client()
    headers = {**FORM, **basic_auth("sam", "the-password-1")}
    barrier.wait()
    form = f"username=sam&password={new_password}"
    response = client.post("/userPassword", data=form, headers=headers)
    results.put((response.status_code, new_password))


@pytest.mark.slow
def test_of_concurrent_password_changes_exactly_one_wins(
    backend: str, tmp_path: Path, table: DynamoTable | None
) -> None:
    """Eight changes at once, each authorised by the same current password: the store's
    conditional write lets one through. The others find the hash changed (409), or read
    the account after the change and find the old password wrong (401)."""
    config = app_config(backend, tmp_path, table)
    signed_up_sam(config)
    context = multiprocessing.get_context("fork")
    count = 8
    barrier, results = context.Barrier(count), context.Queue()
    workers = [
        context.Process(target=change_at_once, args=(config, f"new-password-{i}", barrier, results))
        for i in range(count)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    winners = [password for status, password in outcomes if status == 200]
    assert len(winners) == 1, outcomes
    assert {status for status, _ in outcomes} <= {200, 401, 409}, outcomes
    stored = stored_hash(backend, tmp_path, table)
    assert verify_password(stored, winners[0])
    assert not verify_password(stored, "the-password-1")


def erase_or_claim_at_once(config: dict[str, Any], action: str, barrier, results) -> None:
    client = create_app(config).test_client()
    barrier.wait()
    if action == "erase":
        response = client.delete("/userDetails?username=sam")
    else:
        form = f"username=sam&password=claim-{action}"
        response = client.post("/userSignUp", data=form, headers=FORM)
    results.put((action, response.status_code))


@pytest.mark.slow
def test_erasures_racing_claims_never_leave_a_half_erased_account(
    backend: str, tmp_path: Path, table: DynamoTable | None
) -> None:
    """An open account with details; four erasures (no credentials) and four password
    sign-ups (claims) at once. At most one claim wins (an erasure cannot take a claimed
    account without its password), and what is left is nothing, or the claimed account
    with none of the earlier details, never a mix."""
    config = app_config(backend, tmp_path, table)
    client = create_app(config).test_client()
    assert client.post("/userSignUp", data="username=sam", headers=FORM).status_code == 200
    details = "username=sam&firstname=old&lastname=details"
    assert client.post("/userDetails", data=details, headers=FORM).status_code == 201
    actions = ["erase"] * 4 + [f"password-{i}" for i in range(4)]
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(len(actions)), context.Queue()
    workers = [
        context.Process(target=erase_or_claim_at_once, args=(config, action, barrier, results))
        for action in actions
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    erasures = [status for action, status in outcomes if action == "erase"]
    claims = [action for action, status in outcomes if action != "erase" and status == 200]
    # 409: a claim landed between the erasure's read and its delete; the client retries.
    assert set(erasures) <= {204, 404, 401, 409}, outcomes
    assert {s for a, s in outcomes if a != "erase"} <= {200, 409}, outcomes
    assert len(claims) <= 1, outcomes
    left = open_backend(backend, tmp_path, table).get_user("sam")
    if not claims:
        assert left is None and 204 in erasures, outcomes
        return
    assert left is not None and left.password_hash is not None, outcomes
    assert verify_password(left.password_hash, "claim-" + claims[0])
    assert (left.firstname, left.lastname) == (None, None), outcomes


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_password_is_stored_only_as_an_argon2id_hash(
    backend_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    table = request.getfixturevalue("dynamo_table") if backend_name in DYNAMODB_BACKENDS else None
    client = create_app(app_config(backend_name, tmp_path, table)).test_client()
    password = "correct-horse-battery-staple"
    response = client.post("/userSignUp", data=f"username=sam&password={password}", headers=FORM)
    assert response.status_code == 200
    user = open_backend(backend_name, tmp_path, table).get_user("sam")
    assert user is not None and user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(user.password_hash, password)
    if backend_name == "sqlite":
        for file in tmp_path.iterdir():  # the database, its WAL and shared-memory files
            assert password.encode() not in file.read_bytes(), file
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


def test_a_scrypt_hash_from_the_first_version_verifies_and_is_upgraded(
    backend: str, tmp_path: Path, table: DynamoTable | None
) -> None:
    legacy = generate_password_hash("old-password-1", method="scrypt")  # what v1 stored
    open_backend(backend, tmp_path, table).create_account("sam", legacy, None)
    client = create_app(app_config(backend, tmp_path, table)).test_client()
    wrong = client.get("/userDetails?username=sam", headers=basic_auth("sam", "not-it-at-all"))
    assert wrong.status_code == 401
    assert stored_hash(backend, tmp_path, table) == legacy  # a failed login upgrades nothing
    right = client.get("/userDetails?username=sam", headers=basic_auth("sam", "old-password-1"))
    assert right.status_code == 200
    upgraded = stored_hash(backend, tmp_path, table)
    assert upgraded.startswith("$argon2id$") and verify_password(upgraded, "old-password-1")
    owner = {**FORM, **basic_auth("sam", "old-password-1")}
    posted = client.post("/userDetails", data="username=sam&lastname=king", headers=owner)
    assert posted.status_code == 201
    assert stored_hash(backend, tmp_path, table) == upgraded  # upgraded once, then kept


def stored_hash(backend: str, tmp_path: Path, table: DynamoTable | None) -> str:
    user = open_backend(backend, tmp_path, table).get_user("sam")
    assert user is not None and user.password_hash is not None
    return user.password_hash


def test_a_locked_database_is_a_503_and_nothing_is_written(tmp_path: Path) -> None:
    db = tmp_path / "users.sqlite3"
    client = create_app({"USERS_DB": str(db), "DB_BUSY_TIMEOUT_MS": 100}).test_client()
    assert (
        client.post("/userDetails", data="username=a&lastname=b", headers=FORM).status_code == 201
    )
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock past our timeout
    try:
        response = client.post("/userSignUp", data="username=sam", headers=FORM)
    finally:
        holder.execute("ROLLBACK")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.json["detail"].startswith("The user store is temporarily unavailable")
    assert client.get("/userDetails?username=sam").status_code == 404
    assert client.post("/userSignUp", data="username=sam", headers=FORM).status_code == 200
