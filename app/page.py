"""GET /: the page in app/page.html (README: The page), read on first use, not at import."""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re

from flask import Blueprint, Response, request

bp = Blueprint("page", __name__)

# Only the page's own inline script and style run (their hashes); its forms and fetch calls go
# to this API only; no site may frame it (clickjacking). The data: image is its empty icon.
POLICY = (
    "default-src 'none'; script-src {script}; style-src {style}; img-src data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def inline_hashes(html: str, element: str) -> str:
    # SHA-256 of each inline <element>'s text, as a browser hashes it for CSP.
    texts = re.findall(f"<{element}>(.*?)</{element}>", html, re.S)
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(t.encode()).digest()).decode()}'" for t in texts
    )


@functools.cache
def page() -> tuple[bytes, str]:
    with open(os.path.join(os.path.dirname(__file__), "page.html"), "rb") as file:
        content = file.read()
    html = content.decode()
    return content, POLICY.format(
        script=inline_hashes(html, "script"), style=inline_hashes(html, "style")
    )


@bp.get("/")
def index() -> Response:
    content, policy = page()
    response = Response(content, mimetype="text/html")
    response.headers["Content-Security-Policy"] = policy
    response.headers["X-Frame-Options"] = "DENY"  # for browsers older than CSP 2
    response.headers["Referrer-Policy"] = "no-referrer"
    # Revalidated on every load (a 304 if unchanged). The ETag hashes the content: the zip gives
    # every file one timestamp, so a timestamp-based ETag would outlive a changed page.
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    response.make_conditional(request)
    return response
