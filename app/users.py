"""The seed's user API: tuple-based status responses, plus make_response for browsers."""

from __future__ import annotations

import functools
from pathlib import Path

from flask import Blueprint, Response, make_response, request
from flask.typing import ResponseReturnValue

from app.auth import authorize_read, authorize_write, client_address, credentials_required
from app.problems import Problem
from app.store import AccountChanged, UsernameTaken, get_store
from app.validation import (
    DETAILS_RULES,
    LOOKUP_RULES,
    PASSWORD_CHANGE_RULES,
    SIGNUP_RULES,
    body_fields,
    query_fields,
    validate,
)
from lambda_edge.header_policy import ALLOW_ANY_ORIGIN

bp = Blueprint("users", __name__)

OPENAPI_JSON = Path(__file__).with_name("openapi.json")

PREFLIGHT_MAX_AGE = {"Access-Control-Max-Age": "86400"}
SIGN_UP_PREFLIGHT = {
    **ALLOW_ANY_ORIGIN,
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    **PREFLIGHT_MAX_AGE,
}
DETAILS_PREFLIGHT = {
    **ALLOW_ANY_ORIGIN,
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    # Listed by name: a wildcard would not cover Authorization (Fetch standard).
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    **PREFLIGHT_MAX_AGE,
}
PASSWORD_PREFLIGHT = {
    **ALLOW_ANY_ORIGIN,
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    **PREFLIGHT_MAX_AGE,
}


def prefers_html() -> bool:
    """A browser posting a form asks for text/html; curl's */* gets the plain tuple body."""
    return request.accept_mimetypes.best_match(("text/plain", "text/html")) == "text/html"


def username_taken(username: str) -> Problem:
    return Problem(409, f"The username '{username}' is already taken.", field="username")


def no_user(username: str) -> Problem:
    return Problem(404, f"No user named '{username}'.", field="username")


def account_changed(username: str) -> Problem:
    return Problem(
        409, f"The account '{username}' changed during the request; retry.", field="username"
    )


# OPTIONS is answered by the preflight views below, not by Flask's automatic handler.
@bp.post("/userDetails", provide_automatic_options=False)
def post_user_details() -> ResponseReturnValue:
    fields = validate(body_fields(), DETAILS_RULES)
    username, lastname = fields["username"], fields["lastname"]
    assert username is not None and lastname is not None  # required by DETAILS_RULES
    write_details(username, fields["firstname"], lastname)
    if prefers_html():
        response = make_response("<h1>Success</h1>", 201)
        return response
    return "Success", 201


def write_details(username: str, firstname: str | None, lastname: str) -> None:
    store = get_store()
    if "Authorization" not in request.headers:
        # Without credentials only an open or new account can take the write: one
        # conditional request instead of a read and a write.
        try:
            store.put_details(username, firstname, lastname, expected_hash=None)
            return
        except AccountChanged:
            # Refused: the account has a password, and this request brought none.
            raise credentials_required() from None
    # Conditioned on the hash the credentials were checked against: a sign-up or a hash
    # upgrade landing in between makes the write fail instead of slipping details into the
    # account. The client retries; retrying here would pass the request's store-call budget
    # (app/store/dynamodb.py, MAX_CALLS_PER_REQUEST).
    expected_hash = authorize_write(store.get_user(username))
    try:
        store.put_details(
            username, firstname, lastname, expected_hash=expected_hash, client=client_address()
        )
    except AccountChanged:
        raise account_changed(username) from None


@bp.get("/userDetails", provide_automatic_options=False)
def get_user_details() -> ResponseReturnValue:
    username = validate(query_fields(), LOOKUP_RULES)["username"]
    assert username is not None
    user = get_store().get_user(username)
    if user is None:
        raise no_user(username)
    authorize_read(user)
    return {"username": user.username, "firstname": user.firstname, "lastname": user.lastname}


@bp.delete("/userDetails", provide_automatic_options=False)
def delete_user_details() -> ResponseReturnValue:
    """Erase the account and its details: the same access rules as GET."""
    username = validate(query_fields(), LOOKUP_RULES)["username"]
    assert username is not None
    erase_user(username)
    return "", 204


def erase_user(username: str) -> None:
    store = get_store()
    user = store.get_user(username)
    if user is None:
        raise no_user(username)
    # Conditioned on the hash the credentials were checked against (None: open), so a claim
    # landing in between makes the erasure fail instead of erasing the claim; the client
    # retries (a retry here would pass the store-call budget, as for a details write).
    expected_hash = authorize_write(user)
    try:
        store.erase_user(username, expected_hash=expected_hash)
    except AccountChanged:
        raise account_changed(username) from None


@bp.route("/userDetails", methods=["OPTIONS"])
def details_preflight() -> ResponseReturnValue:
    return "", 204, DETAILS_PREFLIGHT


@bp.post("/userPassword", provide_automatic_options=False)
def post_user_password() -> ResponseReturnValue:
    """Change a protected account's password, authorised by the current one (Basic)."""
    fields = validate(body_fields(), PASSWORD_CHANGE_RULES)
    username, password = fields["username"], fields["password"]
    assert username is not None and password is not None  # required by the rules
    change_password(username, password)
    if prefers_html():
        return make_response("<h1>Success</h1>", 200)
    return "Success", 200


def change_password(username: str, password: str) -> None:
    if "Authorization" not in request.headers:
        raise credentials_required()  # only the current password can authorise a change
    store = get_store()
    user = store.get_user(username)
    if user is None or not user.has_account:
        raise Problem(404, f"No account named '{username}'.", field="username")
    if not user.protected:
        raise Problem(
            409,
            f"The account '{username}' is open: it has no password to change, and a password"
            " would claim it.",
            field="username",
        )
    current_hash = authorize_write(user)
    assert current_hash is not None  # a protected account
    from app.passwords import hash_password

    try:
        store.change_password_hash(username, current_hash, hash_password(password))
    except AccountChanged:
        # Another change (or an erasure) landed since the password was checked: it stands.
        raise account_changed(username) from None


@bp.route("/userPassword", methods=["OPTIONS"])
def password_preflight() -> ResponseReturnValue:
    return "", 204, PASSWORD_PREFLIGHT


@bp.post("/userSignUp", provide_automatic_options=False)
def sign_up() -> ResponseReturnValue:
    fields = validate(body_fields(), SIGNUP_RULES)
    username, password = fields["username"], fields["password"]
    assert username is not None
    store = get_store()
    password_hash = None
    if password is not None:
        # A taken name costs one read, not a hash. The conditional write below still
        # decides a race between two sign-ups that both pass this check.
        existing = store.get_user(username)
        if existing is not None and existing.has_account:
            raise username_taken(username)
        from app.passwords import hash_password

        password_hash = hash_password(password)
    try:
        store.create_account(username, password_hash, fields["firstname"])
    except UsernameTaken:
        raise username_taken(username) from None
    if prefers_html():
        response = make_response("<h1>Success</h1>")
        response.status_code = 200
        response.headers.update(ALLOW_ANY_ORIGIN)
        return response
    return "Success", 200, {"Access-Control-Allow-Origin": "*"}


@bp.route("/userSignUp", methods=["OPTIONS"])
def sign_up_preflight() -> ResponseReturnValue:
    return "", 204, SIGN_UP_PREFLIGHT


@bp.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    return Response(openapi_json(), content_type="application/json; charset=utf-8")


@functools.cache
def openapi_json() -> bytes:
    # Written by `make openapi` (scripts/openapi.py); read on the first request for it.
    return OPENAPI_JSON.read_bytes()
