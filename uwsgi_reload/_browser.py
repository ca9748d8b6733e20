"""uwsgi-reload-browser: the page refreshes itself, and an app that did not load gets a page.

Pure WSGI: no ``uwsgi`` here. :class:`LiveReload` wraps an app: for a client
it allows, it adds one ``<script>`` to each HTML page and answers the script's
polls under ``/__uwsgi_reload__/``; every other request passes through
untouched. :class:`ErrorPage` is the app that stands in while the real one
cannot load. ``_uwsgi_browser`` decides where uWSGI gets them from.

Polls are short requests, not a held connection (SSE or long-poll): a uWSGI
sync worker serves one request at a time, so a held poll per open tab would
take a whole worker away from the app.
"""

from __future__ import annotations

import copy
import html
import ipaddress
import linecache
import os
import re
import traceback
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union
from urllib.parse import quote

from ._options import printable, read_switch

ENABLED_KEY = "uwsgi-reload-browser"
ALLOW_KEY = "uwsgi-reload-browser-allow"
KEYS = (ENABLED_KEY, ALLOW_KEY)

PREFIX = "/__uwsgi_reload__/"
STATUS_PATH = PREFIX + "status"
SCRIPT_PATH = PREFIX + "live.js"
#: Set in the environ by the outermost LiveReload, so that a second one
#: around the same app (the ini's and a line in the code) passes through.
ENVIRON_KEY = "uwsgi_reload.live_reload"

#: Pages poll at the scan interval, but at least once a second and at most
#: four times a second: each poll is one request (and one uWSGI log line).
MIN_POLL, MAX_POLL = 0.25, 1.0

#: uWSGI's own answer when no app is loaded, given to clients not allowed to
#: see the error page: exactly what they would have had without us.
BARE_500 = b"Internal Server Error"
NO_APP_LINE = "--- no python application found, check your startup logs for errors ---"

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
StartResponse = Callable[..., Callable[[bytes], Any]]
WSGIApp = Callable[[Dict[str, Any], StartResponse], Iterable[bytes]]


class BrowserOptions(NamedTuple):
    enabled: bool = False
    allow: Tuple[Network, ...] = ()


def read_browser_options(values: Mapping[str, List[str]]) -> "tuple[BrowserOptions, List[str]]":
    """The two browser keys from every value given (see ``_options.collect_values``)."""
    problems: List[str] = []
    enabled = read_switch(ENABLED_KEY, values.get(ENABLED_KEY, []), False, problems)
    allow: List[Network] = []
    for raw in values.get(ALLOW_KEY, []):
        for word in raw.split():
            try:
                allow.append(ipaddress.ip_network(word, strict=False))
            except ValueError:
                problems.append(
                    "%s: '%s' is not an IP address or network (such as 10.0.2.2 or 192.168.56.0/24); "
                    "ignored" % (ALLOW_KEY, printable(word))
                )
    return BrowserOptions(enabled, tuple(allow)), problems


def wide_networks(networks: Iterable[Network]) -> List[Network]:
    """Allowed networks that reach beyond private addresses: anyone there sees tracebacks."""
    return [network for network in networks if not (network.is_private or network.is_loopback)]


class ClientFilter:
    """Which clients get the script, the status and the error page: loopback plus *allow*.

    The address is REMOTE_ADDR, which uWSGI sets from the connection (or a web
    server in front sets from its own). Headers such as X-Forwarded-For are
    not looked at: any client can write them.
    """

    def __init__(self, allow: Sequence[Network] = ()) -> None:
        self.allow = tuple(allow)

    def __call__(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
        except ValueError:
            return False  # empty (a unix socket without a proxy in front) or garbage
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_loopback or any(ip in network for network in self.allow)

    def describe(self) -> str:
        """Who is allowed, for a log line: 'loopback', 'loopback and 10.0.2.2/32'."""
        return " and ".join(["loopback", ", ".join(str(network) for network in self.allow)][: 1 + bool(self.allow)])


def poll_seconds(scan_interval: float) -> float:
    return min(MAX_POLL, max(MIN_POLL, scan_interval))


_SCRIPT_SOURCE: List[bytes] = []


def script_source() -> bytes:
    if not _SCRIPT_SOURCE:
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "live.js"), "rb") as source:
            _SCRIPT_SOURCE.append(source.read())
    return _SCRIPT_SOURCE[0]


# -- injection ---------------------------------------------------------------------------

_BODY_END = re.compile(rb"</body\s*>", re.IGNORECASE)
_NO_BODY = {204, 304}
_DOCUMENT_DESTINATIONS = {"", "document", "iframe", "frame"}


def wants_script(environ: Mapping[str, Any]) -> bool:
    """A GET for a page a browser shows, not an XHR or a fragment (htmx) for part of one."""
    if environ.get("REQUEST_METHOD", "GET") != "GET":
        return False  # HEAD has no body; a page after a POST would be POSTed again
    if environ.get("HTTP_HX_REQUEST") or environ.get("HTTP_X_REQUESTED_WITH", "").lower() == "xmlhttprequest":
        return False
    return environ.get("HTTP_SEC_FETCH_DEST", "").lower() in _DOCUMENT_DESTINATIONS


def _header(headers: Sequence[Tuple[str, str]], name: str) -> List[str]:
    return [value for key, value in headers if key.lower() == name]


def injectable(status: str, headers: Sequence[Tuple[str, str]]) -> bool:
    """True for a response the script can be added to without changing its meaning."""
    try:
        code = int(status.split(None, 1)[0])
    except (ValueError, IndexError):
        return False
    if code < 200 or code in _NO_BODY:
        return False
    content_type = _header(headers, "content-type")
    if len(content_type) != 1:
        return False
    mime, _, parameters = content_type[0].partition(";")
    if mime.strip().lower() != "text/html" or re.search(r"charset\s*=\s*\"?utf-(16|32)", parameters, re.I):
        return False  # not HTML, or an encoding our ASCII bytes would corrupt
    if any(value.strip().lower() not in ("", "identity") for value in _header(headers, "content-encoding")):
        return False  # compressed: the bytes are not HTML
    if _header(headers, "transfer-encoding"):
        return False  # the app frames the body itself
    if any(value.strip().lower().startswith("attachment") for value in _header(headers, "content-disposition")):
        return False  # a download, not a page
    length = _header(headers, "content-length")
    return not length or (len(length) == 1 and length[0].strip().isdigit())


class _Injection:
    """Puts the snippet into one response body exactly once: before the ``</body>``
    of the first chunk that has one, or else after the last chunk.

    Exactly once is what makes a Content-Length right without buffering: the
    header grows by the snippet's length before the first byte is sent, and
    a streamed page still streams.
    """

    def __init__(self, snippet: bytes) -> None:
        self.snippet = snippet
        self.decided = False
        self.active = False
        self.done = False

    def headers(self, status: str, headers: List[Tuple[str, str]]) -> List[Tuple[str, str]]:
        self.decided = True
        self.active = injectable(status, headers)
        if not self.active:
            return headers
        return [
            (key, str(int(value) + len(self.snippet)) if key.lower() == "content-length" else value)
            for key, value in headers
        ]

    def feed(self, chunk: bytes) -> bytes:
        if not self.active or self.done or not isinstance(chunk, (bytes, bytearray)) or not chunk:
            return chunk
        last = None
        for last in _BODY_END.finditer(chunk):
            pass
        if last is None:
            return chunk
        self.done = True
        return bytes(chunk[: last.start()]) + self.snippet + bytes(chunk[last.start():])

    def tail(self) -> bytes:
        if self.active and not self.done:
            self.done = True
            return self.snippet
        return b""


class _InjectedBody:
    """The app's iterable with the snippet added; closes the app's iterable (PEP 3333)."""

    def __init__(self, result: Iterable[bytes], injection: _Injection) -> None:
        self.result = result
        self.injection = injection

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.result:
            yield self.injection.feed(chunk)
        tail = self.injection.tail()
        if tail:
            yield tail

    def close(self) -> None:
        close = getattr(self.result, "close", None)
        if close is not None:
            close()


def _plain(status: str, body: bytes, content_type: str, start_response: StartResponse, cache: str = "no-store") -> List[bytes]:
    start_response(status, [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("Cache-Control", cache),
    ])
    return [body]


class LiveReload:
    """WSGI middleware: HTML pages refresh once the instance serves a new *generation*.

    *generation* returns a string that changes whenever the instance starts
    serving new code, and is the same in every worker of one instance. Only
    clients *allowed* (by REMOTE_ADDR) are touched: everyone else talks to
    *app* directly.
    """

    def __init__(
        self,
        app: WSGIApp,
        generation: Callable[[], str],
        allowed: Callable[[str], bool],
        poll: float = MAX_POLL,
    ) -> None:
        self.app = app
        self.generation = generation
        self.allowed = allowed
        self.poll_ms = int(round(poll * 1000))

    def __call__(self, environ: Dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get(ENVIRON_KEY) or not self.allowed(environ.get("REMOTE_ADDR") or ""):
            return self.app(environ, start_response)
        environ[ENVIRON_KEY] = True
        path = environ.get("PATH_INFO") or ""
        if path.startswith(PREFIX):
            return self._own(path, start_response)
        if not wants_script(environ):
            return self.app(environ, start_response)
        injection = _Injection(self.snippet(environ))

        def start(status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
            headers = injection.headers(status, list(headers))
            write = start_response(status, headers, exc_info) if exc_info else start_response(status, headers)
            return lambda data: write(injection.feed(data))

        result = self.app(environ, start)
        if injection.decided and not injection.active:
            return result  # untouched, so uWSGI can still sendfile() a file_wrapper
        return _InjectedBody(result, injection)

    def snippet(self, environ: Mapping[str, Any]) -> bytes:
        # PEP 3333: SCRIPT_NAME is the request's bytes decoded as latin-1.
        base = quote(environ.get("SCRIPT_NAME") or "", safe="/", encoding="latin-1")
        text = '<script src="%s" data-status="%s" data-generation="%s" data-interval="%d"></script>' % (
            html.escape(base + SCRIPT_PATH),
            html.escape(base + STATUS_PATH),
            html.escape(self.generation()),
            self.poll_ms,
        )
        return text.encode("ascii", "xmlcharrefreplace")

    def _own(self, path: str, start_response: StartResponse) -> List[bytes]:
        if path == STATUS_PATH:
            return _plain("200 OK", self.generation().encode("ascii", "replace"), "text/plain; charset=utf-8", start_response)
        if path == SCRIPT_PATH:
            return _plain("200 OK", script_source(), "text/javascript; charset=utf-8", start_response, "no-cache")
        return _plain("404 Not Found", b"Not Found", "text/plain; charset=utf-8", start_response)


# -- the error page ----------------------------------------------------------------------


def _text(value: object) -> str:
    """*value* as text safe to put in HTML: control characters (but newlines and
    tabs) and undecodable bytes escaped, then HTML-escaped."""
    text = value if isinstance(value, str) else str(value)
    text = "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in text)
    return html.escape(text, quote=True)


def _shown_path(path: str, cwd: str) -> str:
    try:
        relative = os.path.relpath(path, cwd)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def _chain(error: BaseException) -> List[BaseException]:
    """The exceptions Python would print for *error*, cause first, *error* last."""
    chain: List[BaseException] = []
    seen = set()
    current: Optional[BaseException] = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        if current.__cause__ is not None:
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    return chain[::-1]


def _location(error: BaseException) -> Optional[Tuple[str, int]]:
    """Where the error is: a SyntaxError's own place, else its innermost frame."""
    if isinstance(error, SyntaxError) and isinstance(error.filename, str) and error.lineno:
        return error.filename, error.lineno
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if not frame.filename.startswith("<")]
    if frames and frames[-1].lineno:
        return frames[-1].filename, frames[-1].lineno
    return None


def _context(path: str, line: int, around: int = 3) -> str:
    lines = linecache.getlines(path)
    if not lines:
        return ""
    first, last = max(1, line - around), min(len(lines), line + around)
    rows = []
    for number in range(first, last + 1):
        mark = ' class="here"' if number == line else ""
        rows.append(
            "<span%s><span class=\"n\">%d</span>%s</span>" % (mark, number, _text(lines[number - 1].rstrip("\r\n")))
        )
    return "<pre class=\"source\">%s</pre>" % "\n".join(rows)


_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fff}
header{background:#b3261e;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:21px}header p{margin:6px 0 0}
main{padding:8px 28px 28px}h2{font-size:16px;margin:22px 0 6px}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{background:#f6f6f7;border:1px solid #e2e2e5;border-radius:6px;padding:10px 12px;overflow:auto}
.source span.here{background:#fde2df;display:block}.n{display:inline-block;width:3.5em;color:#888}
ol.frames{padding-left:22px}ol.frames li{margin:4px 0}.app{font-weight:600}
.note{color:#555}
"""


def _exception_only(value: BaseException, cwd: str) -> str:
    """Python's own last lines for *value*; a SyntaxError's file as the page shows it."""
    if isinstance(value, SyntaxError) and isinstance(value.filename, str):
        try:
            shown = copy.copy(value)
            shown.filename = _shown_path(value.filename, cwd)
            value = shown
        except Exception:
            pass  # an odd subclass: its own text will do
    return "".join(traceback.format_exception_only(type(value), value)).rstrip()


def render_error_page(error: Optional[BaseException], cwd: str, headline: str = "The app did not load") -> str:
    """A whole HTML page for an app that failed to load; every value in it is escaped.

    Rendered once, when the error happens: the page then shows the source as
    it was when it failed, not as it is by the time someone looks.
    """
    if error is None:
        return _page(headline, "", "<p>uWSGI could not load the app. Its log says why.</p>")
    chain = _chain(error)
    sections = []
    for number, value in enumerate(chain):
        if number:
            linked = value.__cause__ is chain[number - 1]
            sections.append(
                "<p class=\"note\">%s</p>"
                % ("The above exception was the direct cause of the following exception:" if linked
                   else "During handling of the above exception, another exception occurred:")
            )
        frames = traceback.extract_tb(value.__traceback__)
        if frames:
            items = []
            for frame in frames:
                inside = not frame.filename.startswith("<") and not _shown_path(frame.filename, cwd).startswith("/")
                items.append(
                    "<li%s><code>%s</code>, line %s, in <code>%s</code>%s</li>" % (
                        ' class="app"' if inside else "",
                        _text(_shown_path(frame.filename, cwd)),
                        _text(frame.lineno),
                        _text(frame.name),
                        "<pre>%s</pre>" % _text(frame.line.strip()) if frame.line else "",
                    )
                )
            sections.append("<h2>Traceback</h2><ol class=\"frames\">%s</ol>" % "".join(items))
        sections.append("<pre class=\"exception\">%s</pre>" % _text(_exception_only(value, cwd)))
    where = _location(error)
    message = str(error.msg or "") if isinstance(error, SyntaxError) else str(error)
    summary = type(error).__name__ + (": " + message if message else "")
    top = "<p class=\"summary\"><code>%s</code></p>" % _text(summary)
    if where is not None:
        top += "<p>in <code>%s</code>, line %d</p>" % (_text(_shown_path(where[0], cwd)), where[1])
        sections.insert(0, _context(where[0], where[1]))
    title = "%s in %s" % (type(error).__name__, _shown_path(where[0], cwd)) if where else type(error).__name__
    return _page(headline, top, "".join(sections), title)


def _page(headline: str, top: str, body: str, title: str = "") -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width\">"
        "<title>%s · uwsgi_reload</title><style>%s</style></head>\n<body>"
        "<header><h1>%s</h1>%s</header><main>%s"
        "<p class=\"note\">uwsgi_reload reloads uWSGI when you save a fix; this page then shows the app. "
        "Only development clients see this page (uwsgi-reload-browser).</p>"
        "</main>\n</body></html>\n"
    ) % (_text(title or headline), _STYLE, _text(headline), top, body)


class ErrorPage:
    """The app that answers while the real one cannot load: status 500 and the
    exception for an *allowed* client, uWSGI's own bare 500 for everyone else."""

    def __init__(
        self,
        error: Optional[BaseException],
        allowed: Callable[[str], bool],
        cwd: Optional[str] = None,
        log: Optional[Callable[[str], None]] = None,
    ) -> None:
        self.error = error
        self.allowed = allowed
        self.log = log
        self.page = render_error_page(error, cwd or os.getcwd()).encode("utf-8")

    def __call__(self, environ: Dict[str, Any], start_response: StartResponse) -> List[bytes]:
        if not self.allowed(environ.get("REMOTE_ADDR") or ""):
            if self.log is not None:
                self.log(NO_APP_LINE)
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [BARE_500]
        if environ.get("REQUEST_METHOD") == "HEAD":
            start_response("500 Internal Server Error", [("Content-Type", "text/html; charset=utf-8")])
            return []
        return _plain("500 Internal Server Error", self.page, "text/html; charset=utf-8", start_response)
