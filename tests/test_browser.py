"""A real browser as the client: Debian's Chromium, headless, driven by Playwright.

First the app's own page (GET /, app/page.py), on the API's origin under serverless-offline:
its forms posted as a browser posts them, its fetch part, and its security and cache headers
as Chromium applies them. Then a page served from one origin (127.0.0.1:P1) calls the API on another
(127.0.0.1:P2) with `fetch`, as a front end would, and the test reads back only what the page
itself can read: the CORS rules that decide that are the browser's, not ours. The API runs
under Flask's dev server and under serverless-offline (what `make run` serves). A plain HTML
form on the other origin is also submitted by the browser (a navigation, not fetch). Last, a
small server of our own answers CORS the wrong ways, to show the browser refusing what the
app must not do.

Chromium comes from Debian (`make browser`, a prerequisite of `make test`); Playwright never
downloads a browser here. One browser launch serves the whole module. A failed test leaves a
screenshot of every open tab in its tmp_path (printed under the failure).
"""

from __future__ import annotations

import base64
import html
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    sync_playwright,
)

from tests.channels import dev_server
from tests.contract import PAGE, unique_user
from tests.failure_evidence import ON_FAILURE
from tests.net import HOST
from tests.offline_server import start_offline

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
# Playwright adds --headless and a fresh temporary --user-data-dir itself. Without the
# background-networking flags Chromium keeps trying to reach Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
PASSWORD = "CorrectHorse1"

# The front end: everything the tests ask the page to do goes through callApi, which
# returns only what a script on this origin is allowed to read. Iterating response.headers
# lists exactly the headers CORS exposes to the page.
APP_PAGE = """<!doctype html>
<meta charset="utf-8">
<title>user-api browser client</title>
<script>
async function callApi(url, options = {}) {
  const {method = "GET", headers = {}, json, form, multipart, credentials} = options;
  const init = {method, headers: {...headers}};
  if (credentials !== undefined) init.credentials = credentials;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = new URLSearchParams(form);
  } else if (multipart !== undefined) {
    init.body = new FormData();
    for (const [name, value] of Object.entries(multipart)) init.body.append(name, value);
  }
  try {
    const response = await fetch(url, init);
    const headers = Object.fromEntries(response.headers);
    return {status: response.status, headers, body: await response.text()};
  } catch (error) {
    return {error: `${error.name}: ${error.message}`};
  }
}
</script>
<p>user-api browser client</p>
"""

# A plain HTML form, as a static site would have it: /form?action=URL&fields=a,b,c gives
# one text input per field (id = name) and a submit button.
FORM_PAGE = """<!doctype html>
<meta charset="utf-8">
<title>Form</title>
<form method="post" action="{action}">
{inputs}
  <button type="submit" id="submit">Send</button>
</form>
"""


# Another site trying to show a page inside its own (clickjacking).
FRAME_PAGE = """<!doctype html>
<meta charset="utf-8">
<title>Frame</title>
<iframe id="framed" src="{src}"></iframe>
"""


def form_page(action: str, fields: list[str]) -> str:
    inputs = "\n".join(
        f'  <input name="{html.escape(name)}" id="{html.escape(name)}">' for name in fields
    )
    return FORM_PAGE.format(action=html.escape(action), inputs=inputs)


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


@dataclass(frozen=True)
class PageRead:
    """What the page's script could read of one fetch; ``error`` if fetch rejected."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    error: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Preflight:
    """An OPTIONS request the browser sent on its own, seen through the DevTools protocol."""

    url: str
    method: str  # Access-Control-Request-Method
    headers: str  # Access-Control-Request-Headers


class BrowserApp:
    """One tab showing the front-end page; records preflights, console errors and the
    issues Chromium's DevTools raise (such as deprecated CORS answers)."""

    def __init__(self, page: Page, page_url: str) -> None:
        self.page = page
        self.preflights: list[Preflight] = []
        self.console_errors: list[str] = []
        self.issues: list[str] = []
        page.on("console", self._record_console_error)
        session = page.context.new_cdp_session(page)
        session.on("Network.requestWillBeSent", self._record_preflight)
        session.on("Audits.issueAdded", self._record_issue)
        session.send("Network.enable")
        session.send("Audits.enable")
        page.goto(page_url)

    def _record_console_error(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def _record_preflight(self, event: dict[str, Any]) -> None:
        request = event["request"]
        if request["method"] != "OPTIONS":
            return
        headers = {k.lower(): v for k, v in request.get("headers", {}).items()}
        self.preflights.append(
            Preflight(
                request["url"],
                headers.get("access-control-request-method", ""),
                headers.get("access-control-request-headers", ""),
            )
        )

    def _record_issue(self, event: dict[str, Any]) -> None:
        issue = event["issue"]
        deprecation = issue.get("details", {}).get("deprecationIssueDetails", {})
        self.issues.append(f"{issue['code']}: {deprecation.get('type', '')}".rstrip(": "))

    def call(self, url: str, **options: Any) -> PageRead:
        result = self.page.evaluate("([url, options]) => callApi(url, options)", [url, options])
        return PageRead(**result)


class StaticSite(ThreadingHTTPServer):
    """The front end's own origin: the app page, and plain HTML forms posting to the API."""

    def __init__(self) -> None:
        super().__init__((HOST, 0), StaticSiteHandler)

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_body(self, status: int, content_type: str, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)


class StaticSiteHandler(QuietHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/favicon.ico":  # asked for by every tab; a 404 is a console error
            self.send_body(204, "image/x-icon", b"")
            return
        if url.path == "/":
            page = APP_PAGE
        elif url.path == "/form":
            query = parse_qs(url.query)
            page = form_page(query["action"][0], query["fields"][0].split(","))
        elif url.path == "/frame":
            page = FRAME_PAGE.format(src=html.escape(parse_qs(url.query)["src"][0]))
        else:
            self.send_body(404, "text/plain", b"not found")
            return
        self.send_body(200, "text/html; charset=utf-8", page.encode())


@contextmanager
def serving[Server: ThreadingHTTPServer](server: Server) -> Iterator[Server]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def site() -> Iterator[StaticSite]:
    with serving(StaticSite()) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


NewContext = Callable[..., BrowserContext]


@pytest.fixture
def new_context(browser: Browser) -> Iterator[NewContext]:
    """Fresh browser contexts (options as for Browser.new_context): no preflight cache,
    credentials or state carried between tests. Closed only after the test's report, so a
    failure's screenshot still shows every one of them."""
    opened: list[BrowserContext] = []

    def open_context(**options: Any) -> BrowserContext:
        opened.append(browser.new_context(**options))
        return opened[-1]

    yield open_context
    for context in opened:
        context.close()


@pytest.fixture
def tab(new_context: NewContext, site: StaticSite) -> BrowserApp:
    return BrowserApp(new_context().new_page(), site.origin + "/")


@pytest.fixture(scope="module", params=["dev-server", "offline"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API's base URL on its own origin: Flask's dev server, or serverless-offline."""
    db = str(tmp_path_factory.mktemp(request.param) / "users.sqlite3")
    server = dev_server if request.param == "dev-server" else start_offline
    with server(env={"USERS_DB": db}) as url:
        yield url


@pytest.fixture(autouse=True)
def screenshots_on_failure(
    request: pytest.FixtureRequest, browser: Browser, tmp_path: Path
) -> None:
    """On a failed test, a full-page screenshot of every tab still open, in its tmp_path
    (the path is printed under the failure). Taken from the report hook
    (tests/failure_evidence.py), while the test's contexts are still open."""

    def save() -> str:
        paths = []
        for c, context in enumerate(browser.contexts):
            for p, page in enumerate(context.pages):
                path = tmp_path / f"failure-context{c}-page{p}.png"
                page.screenshot(path=path, full_page=True)
                paths.append(f"{path} ({page.url})")
        return "\n".join(paths) or "no tab was open"

    request.node.stash.setdefault(ON_FAILURE, []).append(save)


@pytest.fixture
def own_page(new_context: NewContext, api: str) -> BrowserApp:
    """The app's own page, GET / on the API's origin, in a fresh context."""
    return BrowserApp(new_context().new_page(), f"{api}/")


def assert_problem(read: PageRead, status: int, detail: str) -> None:
    assert read.error is None, read.error
    assert read.status == status
    assert read.headers["content-type"] == "application/problem+json"
    assert read.json()["status"] == status
    assert read.json()["detail"] == detail


# What the page can read of a 401/403: CORS exposes only the safelisted response headers
# (Cache-Control, Content-Language, Content-Length, Content-Type, Expires, Last-Modified,
# Pragma) unless Access-Control-Expose-Headers names more, and the app names none. So the
# page sees the status, the problem document and no-store, but not WWW-Authenticate.
READABLE_ON_AUTH_ERRORS = {"cache-control", "content-length", "content-type"}
CROSS_SITE_FORM = (
    "A cross-site form post cannot change a protected account; send the request as"
    " application/json with an Authorization header."
)


# --- the app's own page (GET /) ----------------------------------------------------------

# Chromium logs every 4xx a page receives, navigation or fetch, as a console error.
FAILED_LOAD = "Failed to load resource: the server responded with a status of"
# The page is the same app code on every server, and the contract table already runs GET /
# through every channel: in the browser it is tested against the emulator `make run` serves.
ON_THE_EMULATOR = pytest.mark.parametrize("api", ["offline"], indirect=True)


def submit_form(page: Page, form: str, **fields: str) -> tuple[int, str]:
    """Fill the page's form (inputs #<form>-<name>), submit it as a user would, and return
    the status and content type of the document the browser navigated to."""
    for name, value in fields.items():
        page.fill(f"#{form}-{name}", value)
    with page.expect_navigation() as navigation:
        page.click(f"#{form}-submit")
    response = navigation.value
    assert response is not None
    assert response.request.method == "POST"
    assert response.request.headers["content-type"] == "application/x-www-form-urlencoded"
    return response.status, response.headers["content-type"]


def shown_problem(page: Page) -> Any:
    """The problem document as Chromium shows a JSON answer: its text, visible in a <pre>."""
    assert page.is_visible("pre")
    return json.loads(page.text_content("pre") or "")


@dataclass(frozen=True)
class Shown:
    """What the page's fetch part shows after a call."""

    outcome: str  # "success" or "error" (data-outcome, which also colours the heading)
    heading: str
    message: str


API_FIELDS = ("username", "password", "firstname", "lastname", "newpassword")
API_PATHS = {"signup": "/userSignUp", "change-password": "/userPassword"}


def use_fetch_part(page: Page, button: str, **fields: str) -> tuple[Shown, Request]:
    """Fill the fetch part's fields (the rest emptied), press a button (signup, save, read,
    change-password, erase),
    and return what the page then shows and the request its script sent."""
    for name in API_FIELDS:
        page.fill(f"#api-{name}", fields.get(name, ""))
    path = API_PATHS.get(button, "/userDetails")
    with page.expect_response(lambda response: urlsplit(response.url).path == path) as answer:
        page.click(f"#api-{button}")
    # A selector, not wait_for_function: the page's policy forbids the eval that needs.
    page.locator("#api-result[data-outcome=success], #api-result[data-outcome=error]").wait_for()
    shown = Shown(
        page.get_attribute("#api-result", "data-outcome") or "",
        page.text_content("#api-outcome") or "",
        page.text_content("#api-message") or "",
    )
    return shown, answer.value.request


@ON_THE_EMULATOR
def test_page_loads_within_its_policy(own_page: BrowserApp, api: str) -> None:
    page = own_page.page
    # The fetch part is shown by the page's script: proof that it ran under its CSP hash.
    assert page.is_visible("#api-form")
    assert page.is_hidden("#api-needs-script")
    # The inline style sheet applied under its hash too.
    assert page.eval_on_selector("label", "label => getComputedStyle(label).display") == "block"
    # Nothing the policy blocked (a CSP violation is a console error and a DevTools issue),
    # and no request for /favicon.ico.
    assert own_page.console_errors == []
    assert own_page.issues == []
    assert page.evaluate("document.contentType") == "text/html"


@ON_THE_EMULATOR
def test_page_sign_up_form_gets_success_then_the_409(own_page: BrowserApp, api: str) -> None:
    page, user = own_page.page, unique_user()
    status, content_type = submit_form(page, "signup", username=user, firstname="sam")
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert page.url == f"{api}/userSignUp"
    assert page.inner_html("body") == "<h1>Success</h1>"

    page.goto(f"{api}/")
    status, content_type = submit_form(page, "signup", username=user, firstname="sam")
    assert (status, content_type) == (409, "application/problem+json")
    assert shown_problem(page) == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": f"The username '{user}' is already taken.",
        "field": "username",
    }


@ON_THE_EMULATOR
def test_page_details_form_with_browser_held_credentials(
    new_context: NewContext, own_page: BrowserApp, api: str
) -> None:
    # The page's own forms are same-origin: for a protected account, the credentials the
    # browser holds (its Basic prompt, answered here by http_credentials) pass the CSRF
    # rule that refuses the same form from another site (see the cross-site test below).
    user = unique_user()
    shown, _ = use_fetch_part(own_page.page, "signup", username=user, password=PASSWORD)
    assert shown == Shown("success", "Success (200)", "Success")

    context = new_context(http_credentials={"username": user, "password": PASSWORD, "origin": api})
    page = context.new_page()
    page.goto(f"{api}/")
    status, content_type = submit_form(page, "details", username=user, lastname="king")
    assert (status, content_type) == (201, "text/html; charset=utf-8")
    assert page.inner_html("body") == "<h1>Success</h1>"

    own_page.page.goto(f"{api}/")
    shown, _ = use_fetch_part(own_page.page, "read", username=user, password=PASSWORD)
    assert shown == Shown(
        "success", "Success (200)", f"username: {user}, first name: (none), last name: king"
    )


@ON_THE_EMULATOR
def test_page_fetch_part_shows_success_and_problem_details(own_page: BrowserApp, api: str) -> None:
    page, user = own_page.page, unique_user()

    shown, sent = use_fetch_part(page, "signup", username=user, firstname="sam")
    assert shown == Shown("success", "Success (200)", "Success")
    # JSON through fetch, with only the fields filled in.
    assert sent.method == "POST"
    assert sent.headers["content-type"] == "application/json"
    assert sent.post_data_json == {"username": user, "firstname": "sam"}

    shown, _ = use_fetch_part(page, "signup", username=user)
    assert shown == Shown("error", "Error 409 Conflict", f"The username '{user}' is already taken.")
    shown, _ = use_fetch_part(page, "signup", username=unique_user(), password="short")
    assert shown == Shown("error", "Error 400 Bad Request", "'password' must be 8-256 characters.")
    shown, _ = use_fetch_part(page, "save", username=user, firstname="sam")
    assert shown == Shown("error", "Error 400 Bad Request", "'lastname' is required.")

    # A name holding markup is shown as text: nothing the API returns becomes HTML.
    markup = '<b id="injected">king</b>'
    shown, sent = use_fetch_part(page, "save", username=user, lastname=markup)
    assert shown == Shown("success", "Success (201)", "Success")
    assert sent.post_data_json == {"username": user, "lastname": markup}
    shown, sent = use_fetch_part(page, "read", username=user)
    assert shown == Shown(
        "success", "Success (200)", f"username: {user}, first name: sam, last name: {markup}"
    )
    assert sent.method == "GET" and sent.url == f"{api}/userDetails?username={user}"
    assert page.locator("#injected").count() == 0

    # Same origin: no preflight, and nothing refused; the only console errors are
    # Chromium's notes on the three 4xx answers.
    assert own_page.preflights == []
    assert own_page.issues == []
    assert [e for e in own_page.console_errors if not e.startswith(FAILED_LOAD)] == []
    assert len(own_page.console_errors) == 3


@ON_THE_EMULATOR
def test_page_fetch_part_sends_basic_credentials(own_page: BrowserApp, api: str) -> None:
    page, user = own_page.page, unique_user()
    # A non-ASCII password: btoa alone cannot encode it; the page sends UTF-8 (RFC 7617).
    password = "Pässwörd-1"
    shown, sent = use_fetch_part(page, "signup", username=user, password=password)
    assert shown == Shown("success", "Success (200)", "Success")

    shown, sent = use_fetch_part(page, "save", username=user, lastname="king")
    assert shown == Shown(
        "error",
        "Error 401 Unauthorized",
        "This account is protected: send its username and password with HTTP Basic authentication.",
    )
    assert "authorization" not in sent.headers
    shown, _ = use_fetch_part(page, "save", username=user, password="wrong-one", lastname="x")
    assert shown == Shown("error", "Error 401 Unauthorized", "The username or password is wrong.")

    shown, sent = use_fetch_part(page, "save", username=user, password=password, lastname="king")
    assert shown == Shown("success", "Success (201)", "Success")
    assert sent.headers["authorization"] == basic(user, password)["Authorization"]
    assert sent.post_data_json == {"username": user, "lastname": "king"}  # no password in it
    shown, sent = use_fetch_part(page, "read", username=user, password=password)
    assert shown == Shown(
        "success", "Success (200)", f"username: {user}, first name: (none), last name: king"
    )
    assert sent.headers["authorization"] == basic(user, password)["Authorization"]


@ON_THE_EMULATOR
def test_page_fetch_part_changes_the_password_then_deletes_the_user(
    own_page: BrowserApp, api: str
) -> None:
    page, user = own_page.page, unique_user()
    old, new = "first-password-1", "Nëw-password-2"
    shown, _ = use_fetch_part(page, "signup", username=user, password=old)
    assert shown == Shown("success", "Success (200)", "Success")

    shown, sent = use_fetch_part(
        page, "change-password", username=user, password=old, newpassword=new
    )
    assert shown == Shown("success", "Success (200)", "Success")
    assert sent.headers["authorization"] == basic(user, old)["Authorization"]
    assert sent.post_data_json == {"username": user, "password": new}  # the new one only
    shown, _ = use_fetch_part(page, "read", username=user, password=old)
    assert shown == Shown("error", "Error 401 Unauthorized", "The username or password is wrong.")

    shown, sent = use_fetch_part(page, "erase", username=user, password=old)
    assert shown == Shown("error", "Error 401 Unauthorized", "The username or password is wrong.")
    shown, sent = use_fetch_part(page, "erase", username=user, password=new)
    assert shown == Shown("success", "Success (204)", "")
    assert sent.method == "DELETE"
    assert sent.headers["authorization"] == basic(user, new)["Authorization"]
    shown, _ = use_fetch_part(page, "read", username=user, password=new)
    assert shown == Shown("error", "Error 404 Not Found", f"No user named '{user}'.")


@ON_THE_EMULATOR
def test_page_revisit_revalidates_it(own_page: BrowserApp, api: str) -> None:
    # Cache-Control: no-cache + ETag: each visit asks again with the ETag, and the unchanged
    # page comes back as a 304 that the browser fills from its cache. Under serverless-offline
    # that 304 carries an invented Content-Type (application/json): Chromium ignores it.
    page = own_page.page
    session = page.context.new_cdp_session(page)
    sent: list[str | None] = []
    answered: list[int] = []
    session.on(
        "Network.requestWillBeSentExtraInfo",
        lambda event: sent.append(
            {k.lower(): v for k, v in event["headers"].items()}.get("if-none-match")
        ),
    )
    session.on("Network.responseReceivedExtraInfo", lambda e: answered.append(e["statusCode"]))
    session.send("Network.enable")
    page.goto(f"{api}/")
    page.reload()
    assert sent == [PAGE.headers["ETag"]] * 2
    assert answered == [304, 304]
    assert page.evaluate("document.contentType") == "text/html"
    assert page.is_visible("#api-form")  # its script ran again


@ON_THE_EMULATOR
def test_page_refuses_to_be_framed(new_context: NewContext, site: StaticSite, api: str) -> None:
    page = new_context().new_page()
    refusal = "violates the following Content Security Policy directive: \"frame-ancestors 'none'\""
    with page.expect_console_message(lambda message: refusal in message.text, timeout=5000):
        page.goto(f"{site.origin}/frame?src={api}/")
    # Chromium shows its own error page in the frame instead of the API's page.
    assert [frame.url for frame in page.frames] == [
        f"{site.origin}/frame?src={api}/",
        "chrome-error://chromewebdata/",
    ]
    assert page.frame_locator("#framed").locator("#signup-form").count() == 0


def test_protected_account_from_another_origin(tab: BrowserApp, api: str) -> None:
    user = unique_user()
    signed_up = tab.call(
        f"{api}/userSignUp", method="POST", json={"username": user, "password": PASSWORD}
    )
    assert (signed_up.status, signed_up.body) == (200, "Success"), signed_up
    again = tab.call(
        f"{api}/userSignUp", method="POST", json={"username": user, "password": PASSWORD}
    )
    assert_problem(again, 409, f"The username '{user}' is already taken.")
    assert again.json()["field"] == "username"

    posted = tab.call(
        f"{api}/userDetails",
        method="POST",
        headers=basic(user, PASSWORD),
        json={"username": user, "firstname": "john", "lastname": "king"},
    )
    assert (posted.status, posted.body) == (201, "Success"), posted

    read = tab.call(f"{api}/userDetails?username={user}", headers=basic(user, PASSWORD))
    assert read.status == 200, read
    assert read.json() == {"username": user, "firstname": "john", "lastname": "king"}
    assert read.headers["cache-control"] == "no-store"

    # The browser asked first, each time a non-safelisted header was about to be sent:
    # Content-Type: application/json, Authorization, or both.
    assert {(p.url, p.method, p.headers) for p in tab.preflights} == {
        (f"{api}/userSignUp", "POST", "content-type"),
        (f"{api}/userDetails", "POST", "authorization,content-type"),
        (f"{api}/userDetails?username={user}", "GET", "authorization"),
    }
    # Chromium notes the 409 on the console; nothing else went wrong.
    assert len(tab.console_errors) == 1 and tab.console_errors[0].startswith(FAILED_LOAD)
    assert tab.issues == []


def test_multipart_sign_up_then_wrong_or_missing_credentials_are_readable_401s(
    tab: BrowserApp, api: str
) -> None:
    user = unique_user()
    signed_up = tab.call(
        f"{api}/userSignUp", method="POST", multipart={"username": user, "password": PASSWORD}
    )
    assert (signed_up.status, signed_up.body) == (200, "Success"), signed_up

    details = f"{api}/userDetails?username={user}"
    missing = tab.call(details)
    assert_problem(
        missing,
        401,
        "This account is protected: send its username and password with HTTP Basic authentication.",
    )
    wrong = tab.call(details, headers=basic(user, "wrong-password"))
    assert_problem(wrong, 401, "The username or password is wrong.")
    post_wrong = tab.call(
        f"{api}/userDetails",
        method="POST",
        headers=basic(user, "wrong-password"),
        json={"username": user, "lastname": "king"},
    )
    assert_problem(post_wrong, 401, "The username or password is wrong.")

    for read in (missing, wrong, post_wrong):
        assert set(read.headers) == READABLE_ON_AUTH_ERRORS
        assert read.headers["cache-control"] == "no-store"
        assert "www-authenticate" not in read.headers


def test_another_accounts_credentials_are_a_readable_403(tab: BrowserApp, api: str) -> None:
    owner, other = unique_user(), unique_user()
    for user in (owner, other):
        signed_up = tab.call(
            f"{api}/userSignUp", method="POST", form={"username": user, "password": PASSWORD}
        )
        assert signed_up.status == 200, signed_up

    forbidden = f"These credentials are for another account; they cannot read or change '{owner}'."
    read = tab.call(f"{api}/userDetails?username={owner}", headers=basic(other, PASSWORD))
    assert_problem(read, 403, forbidden)
    assert read.json()["field"] == "username"
    posted = tab.call(
        f"{api}/userDetails",
        method="POST",
        headers=basic(other, PASSWORD),
        json={"username": owner, "lastname": "king"},
    )
    assert_problem(posted, 403, forbidden)
    for response in (read, posted):
        assert set(response.headers) == READABLE_ON_AUTH_ERRORS
        assert response.headers["cache-control"] == "no-store"


def test_open_account_needs_no_credentials(tab: BrowserApp, api: str) -> None:
    user = unique_user()
    # Form bodies without Authorization are "simple" requests: no preflight at all.
    signed_up = tab.call(
        f"{api}/userSignUp", method="POST", form={"username": user, "firstname": "sam"}
    )
    assert (signed_up.status, signed_up.body) == (200, "Success"), signed_up
    posted = tab.call(
        f"{api}/userDetails", method="POST", form={"username": user, "lastname": "king"}
    )
    assert (posted.status, posted.body) == (201, "Success"), posted
    read = tab.call(f"{api}/userDetails?username={user}")
    assert read.status == 200, read
    assert read.json() == {"username": user, "firstname": "sam", "lastname": "king"}
    assert tab.preflights == []

    # Errors are readable too: a 400 and a 404, with their problem details.
    missing_lastname = tab.call(f"{api}/userDetails", method="POST", form={"username": user})
    assert missing_lastname.status == 400, missing_lastname
    assert missing_lastname.json()["field"] == "lastname"
    nobody = unique_user()
    assert_problem(
        tab.call(f"{api}/userDetails?username={nobody}"), 404, f"No user named '{nobody}'."
    )


def test_form_body_with_authorization_is_refused_as_cross_site(tab: BrowserApp, api: str) -> None:
    # A form body needs no preflight, so the app refuses it for protected accounts when the
    # browser says it comes from another site (Chromium sends Sec-Fetch-Site).
    user = unique_user()
    signed_up = tab.call(
        f"{api}/userSignUp", method="POST", json={"username": user, "password": PASSWORD}
    )
    assert signed_up.status == 200, signed_up
    posted = tab.call(
        f"{api}/userDetails",
        method="POST",
        headers=basic(user, PASSWORD),
        form={"username": user, "lastname": "king"},
    )
    assert_problem(posted, 403, CROSS_SITE_FORM)
    read = tab.call(f"{api}/userDetails?username={user}", headers=basic(user, PASSWORD))
    assert read.json()["lastname"] is None


def test_browser_held_credentials_cannot_post_a_cross_site_form(
    new_context: NewContext, site: StaticSite, api: str, tab: BrowserApp
) -> None:
    # CSRF: the user once answered the browser's Basic prompt for the API (Playwright's
    # http_credentials answers it), and then visits another site whose form posts to it.
    user = unique_user()
    signed_up = tab.call(
        f"{api}/userSignUp", method="POST", json={"username": user, "password": PASSWORD}
    )
    assert signed_up.status == 200, signed_up
    context = new_context(http_credentials={"username": user, "password": PASSWORD, "origin": api})
    page = context.new_page()
    page.goto(f"{site.origin}/form?action={api}/userDetails&fields=username,lastname")
    page.fill("#username", user)
    page.fill("#lastname", "forged")
    with page.expect_navigation() as navigation:
        page.click("#submit")
    response = navigation.value
    assert response is not None
    # Without credentials this would be the 401 challenge: the browser answered it with
    # the held ones (a 403 needs a parseable Authorization header), and the app then
    # refused the cross-site form.
    assert response.status == 403
    assert response.json()["detail"] == CROSS_SITE_FORM
    read = tab.call(f"{api}/userDetails?username={user}", headers=basic(user, PASSWORD))
    assert read.json()["lastname"] is None


def test_cookie_credentials_mode_is_refused(tab: BrowserApp, api: str) -> None:
    # Why the README says to send Authorization explicitly, not credentials: "include":
    # in that mode a browser refuses Allow-Origin "*", even on an answer it could read.
    read = tab.call(f"{api}/userDetails?username={unique_user()}", credentials="include")
    assert read == PageRead(error="TypeError: Failed to fetch")
    refusal = (
        "The value of the 'Access-Control-Allow-Origin' header in the response must not be"
        " the wildcard '*' when the request's credentials mode is 'include'."
    )
    assert any(refusal in message for message in tab.console_errors), tab.console_errors


def test_html_form_gets_the_html_success_page(
    new_context: NewContext, site: StaticSite, api: str, tab: BrowserApp
) -> None:
    user = unique_user()
    context = new_context()
    page = context.new_page()
    page.goto(f"{site.origin}/form?action={api}/userSignUp&fields=username,firstname,password")
    page.fill("#username", user)  # firstname and password stay blank
    with page.expect_navigation() as navigation:
        page.click("#submit")
    response = navigation.value
    assert response is not None
    assert response.request.method == "POST"
    assert response.request.post_data == f"username={user}&firstname=&password="
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/html")
    assert page.url == f"{api}/userSignUp"
    assert page.inner_html("body") == "<h1>Success</h1>"
    assert page.text_content("h1") == "Success"

    # The blank fields counted as absent: no firstname, and an open account (no password).
    read = tab.call(f"{api}/userDetails?username={user}")
    assert read.status == 200, read
    assert read.json() == {"username": user, "firstname": None, "lastname": None}
