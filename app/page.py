"""GET /: a small page for people, served by the app itself (app/page.html, shipped in the zip).

It has no build step and no framework: one HTML file with its style sheet and script inline,
so a page load is one request (one Lambda invocation, one route). The file is read on first
use, not at import, and kept for the life of the container.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re

from flask import Blueprint, Response, request

bp = Blueprint("page", __name__)

PAGE_FILE = os.path.join(os.path.dirname(__file__), "page.html")

# The page writes accounts, so it must run no code but its own and sit in nobody's frame.
# Its inline script and style run because their hashes are listed (any other inline code, an
# injected one included, is refused); its forms and fetch calls go to this API only. The one
# image is the empty data: icon that keeps the browser from asking for /favicon.ico.
# frame-ancestors stops clickjacking (X-Frame-Options for browsers older than CSP 2).
POLICY = (
    "default-src 'none'; script-src {script}; style-src {style}; img-src data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Revalidate on every load: a 304 costs a few bytes and a new deploy shows at once. The ETag
# is the content's hash because the zip gives every file the same timestamp
# (scripts/compile_zip_bytecode.py): a timestamp-based one, as Flask's static files use,
# would keep a changed page of the same size.
REVALIDATE = "no-cache"


def source_hashes(html: str, element: str) -> str:
    """CSP hash sources for each inline <element>: SHA-256 of its text, as browsers hash it."""
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"
        for text in re.findall(f"<{element}>(.*?)</{element}>", html, re.S)
    )


@functools.cache
def page() -> tuple[bytes, str]:
    """The page's bytes and its Content-Security-Policy."""
    with open(PAGE_FILE, "rb") as file:
        content = file.read()
    html = content.decode()
    policy = POLICY.format(script=source_hashes(html, "script"), style=source_hashes(html, "style"))
    return content, policy


@bp.get("/")
def index() -> Response:
    content, policy = page()
    response = Response(content, mimetype="text/html")
    response.headers.update(
        {
            "Content-Security-Policy": policy,
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": REVALIDATE,
        }
    )
    response.add_etag()
    response.make_conditional(request)  # a 304 when If-None-Match names this version
    return response
