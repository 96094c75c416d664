"""The seed's user API: tuple-based status responses, plus make_response for browsers."""

from __future__ import annotations

from flask import Blueprint, Response, make_response, request
from werkzeug.security import generate_password_hash

from app.problems import Problem
from app.store import UsernameTaken, get_store
from app.validation import (
    DETAILS_RULES,
    LOOKUP_RULES,
    SIGNUP_RULES,
    body_fields,
    query_fields,
    validate,
)

bp = Blueprint("users", __name__)

ALLOW_ANY_ORIGIN = {"Access-Control-Allow-Origin": "*"}
CORS_PATHS = frozenset({"/userSignUp"})
PREFLIGHT_HEADERS = {
    **ALLOW_ANY_ORIGIN,
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}


def prefers_html() -> bool:
    """A browser posting a form asks for text/html; curl's */* gets the plain tuple body."""
    return request.accept_mimetypes.best_match(("text/plain", "text/html")) == "text/html"


@bp.post("/userDetails")
def post_user_details():
    fields = validate(body_fields(), DETAILS_RULES)
    get_store().put_details(fields["username"], fields["firstname"], fields["lastname"])
    if prefers_html():
        response = make_response("<h1>Success</h1>", 201)
        return response
    return "Success", 201


@bp.get("/userDetails")
def get_user_details():
    username = validate(query_fields(), LOOKUP_RULES)["username"]
    user = get_store().get_user(username)
    if user is None:
        raise Problem(404, f"No user named '{username}'.", field="username")
    return {"username": user.username, "firstname": user.firstname, "lastname": user.lastname}


# OPTIONS is answered by sign_up_preflight, not by Flask's automatic handler.
@bp.post("/userSignUp", provide_automatic_options=False)
def sign_up():
    fields = validate(body_fields(), SIGNUP_RULES)
    password = fields["password"]
    # Hash before touching the store, so no lock is held during the slow scrypt.
    password_hash = generate_password_hash(password, method="scrypt") if password else None
    try:
        get_store().create_account(fields["username"], password_hash, fields["firstname"])
    except UsernameTaken:
        raise Problem(
            409, f"The username '{fields['username']}' is already taken.", field="username"
        ) from None
    if prefers_html():
        response = make_response("<h1>Success</h1>")
        response.status_code = 200
        response.headers.update(ALLOW_ANY_ORIGIN)
        return response
    return "Success", 200, {"Access-Control-Allow-Origin": "*"}


@bp.route("/userSignUp", methods=["OPTIONS"])
def sign_up_preflight():
    return "", 204, PREFLIGHT_HEADERS


@bp.after_app_request
def add_cors_and_vary(response: Response) -> Response:
    # Errors too: a browser on another origin can only read a 4xx that carries the header.
    if request.path in CORS_PATHS:
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
    if request.method == "POST" and request.url_rule is not None and response.status_code < 300:
        # The success body depends on Accept (HTML for browsers); caches must know.
        response.vary.add("Accept")
    return response
