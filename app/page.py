"""GET /: a small page for people, served by the app itself (app/page/, shipped in the zip).

It has no build step and no framework: plain HTML, one script and one style sheet, read from
disk on first use (nothing happens at import, so cold starts pay nothing for the page) and
kept for the life of the container.
"""

from __future__ import annotations

import functools
import os

from flask import Blueprint, Response, request

bp = Blueprint("page", __name__)

PAGE_DIR = os.path.join(os.path.dirname(__file__), "page")

# The page writes accounts, so it must not run anyone else's code or sit inside their frame.
# Its script and style sheet are files of its own ('self'), never inline; its forms and
# fetch calls go to this API only. The one image is the empty data: icon that keeps the
# browser from asking for /favicon.ico. frame-ancestors stops clickjacking (X-Frame-Options
# for browsers older than CSP 2).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# Revalidate on every load: a 304 is a few bytes, and the page and its script never mix
# versions across a deploy. The ETag is the content's hash because the zip gives every file
# the same timestamp (scripts/compile_zip_bytecode.py), so a timestamp-based one (Flask's
# static files) would survive a changed file of the same size.
REVALIDATE = "no-cache"


@functools.cache
def page_file(name: str) -> bytes:
    with open(os.path.join(PAGE_DIR, name), "rb") as file:
        return file.read()


def page_response(name: str, mimetype: str, headers: dict[str, str] | None = None) -> Response:
    response = Response(page_file(name), mimetype=mimetype, headers=headers)
    response.headers["Cache-Control"] = REVALIDATE
    response.add_etag()
    response.make_conditional(request)  # a 304 when If-None-Match names this version
    return response


@bp.get("/")
def index() -> Response:
    return page_response("index.html", "text/html", PAGE_HEADERS)


@bp.get("/page.js")
def script() -> Response:
    return page_response("page.js", "text/javascript")


@bp.get("/page.css")
def style_sheet() -> Response:
    return page_response("page.css", "text/css")
