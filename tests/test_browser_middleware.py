"""uwsgi-reload-browser's pure part: the middleware, the status endpoint, the error page."""

from __future__ import annotations

import ipaddress
import re
import sys
import textwrap
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple
from wsgiref.validate import validator

import pytest

from uwsgi_reload._browser import (
    BARE_500, NO_APP_LINE, SCRIPT_PATH, STATUS_PATH, ClientFilter, ErrorPage, LiveReload, poll_seconds,
    read_browser_options, render_error_page, script_source, wide_networks,
)

PAGE = b"<!DOCTYPE html><html><head><title>t</title></head><body><p>hello</p></body></html>"
SCRIPT_TAG = re.compile(rb'<script src="[^"]*" data-status="[^"]*" data-generation="[^"]*" data-interval="\d+"></script>')


def loopback_only(address: str) -> bool:
    return address == "127.0.0.1"


def environ(path: str = "/", method: str = "GET", address: str = "127.0.0.1", **extra: str) -> Dict[str, Any]:
    env = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "localhost", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": address, "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
        "wsgi.input": __import__("io").BytesIO(), "wsgi.errors": sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    env.update(extra)
    return env


class Response:
    def __init__(self, status: str, headers: List[Tuple[str, str]], chunks: List[bytes]) -> None:
        self.status, self.headers, self.chunks = status, headers, chunks
        self.body = b"".join(chunks)

    def header(self, name: str) -> Optional[str]:
        found = [value for key, value in self.headers if key.lower() == name.lower()]
        return found[0] if found else None


def call(app: Callable[..., Iterable[bytes]], env: Optional[Dict[str, Any]] = None, validate: bool = True) -> Response:
    started: List[Any] = []
    written: List[bytes] = []

    def start_response(status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        started[:] = [status, headers]
        return written.append

    result = (validator(app) if validate else app)(env or environ(), start_response)
    try:
        chunks = list(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return Response(started[0], started[1], written + chunks)


def html_app(chunks: List[bytes], headers: Optional[List[Tuple[str, str]]] = None, status: str = "200 OK"):
    def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> List[bytes]:
        start_response(status, headers if headers is not None else [("Content-Type", "text/html; charset=utf-8")])
        return list(chunks)

    return app


def live(app: Callable[..., Any], generation: str = "gen-1", allowed: Callable[[str], bool] = loopback_only) -> LiveReload:
    return LiveReload(app, lambda: generation, allowed, poll=0.5)


# -- which pages get the script ------------------------------------------------------------


def test_the_script_goes_before_the_closing_body_tag_and_content_length_grows_by_its_size():
    app = html_app([PAGE], [("Content-Type", "text/html"), ("Content-Length", str(len(PAGE)))])
    response = call(live(app))
    (tag,) = SCRIPT_TAG.findall(response.body)
    assert response.body == PAGE.replace(b"</body>", tag + b"</body>")
    assert int(response.header("Content-Length")) == len(response.body)
    assert b'data-generation="gen-1"' in tag and b'data-interval="500"' in tag
    assert b'src="/__uwsgi_reload__/live.js"' in tag and b'data-status="/__uwsgi_reload__/status"' in tag


def test_a_page_without_a_body_tag_gets_the_script_at_its_end():
    response = call(live(html_app([b"<p>no body tag", b" at all</p>"])))
    assert response.body.startswith(b"<p>no body tag at all</p><script ")
    assert SCRIPT_TAG.fullmatch(response.body[len(b"<p>no body tag at all</p>"):])


def test_the_last_closing_body_tag_of_the_chunk_counts_in_any_case():
    page = b"<body><script>var s = '</body>';</script><p>x</p></BODY >\n</html>"
    response = call(live(html_app([page])))
    assert response.body.endswith(b"</script></BODY >\n</html>")
    assert response.body.startswith(b"<body><script>var s = '</body>';</script><p>x</p><script src=")


def test_a_streamed_page_still_streams_and_gets_the_script_once():
    produced: List[str] = []

    def streaming(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])  # lazily, at the first next()
        for part in (b"<html><body>", b"<p>one</p>", b"<p>two</p></body></html>"):
            produced.append(part.decode())
            yield part

    started: List[Any] = []
    result = live(streaming)(environ(), lambda status, headers, exc_info=None: started.append(headers))
    chunks = iter(result)
    assert next(chunks) == b"<html><body>"
    assert produced == ["<html><body>"], "the middleware must not read ahead of what it sends"
    assert next(chunks) == b"<p>one</p>"
    last = next(chunks)
    assert SCRIPT_TAG.search(last) and last.endswith(b"</body></html>")
    assert list(chunks) == []
    assert ("Content-Length" not in dict(started[0]))


def test_a_body_tag_split_across_chunks_puts_the_script_after_the_page():
    response = call(live(html_app([b"<body><p>x</p></bo", b"dy></html>"])))
    assert response.chunks[:2] == [b"<body><p>x</p></bo", b"dy></html>"]
    assert SCRIPT_TAG.fullmatch(response.chunks[2])


def test_bytes_given_to_write_get_the_script_too():
    def legacy(environ: Dict[str, Any], start_response: Callable[..., Any]) -> List[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(PAGE)))])
        write(PAGE)
        return []

    response = call(live(legacy))
    assert SCRIPT_TAG.search(response.body) and int(response.header("Content-Length")) == len(response.body)


@pytest.mark.parametrize(
    "headers, status",
    [
        ([("Content-Type", "application/json")], "200 OK"),
        ([("Content-Type", "text/plain")], "200 OK"),
        ([], "200 OK"),
        ([("Content-Type", "text/html"), ("Content-Encoding", "gzip")], "200 OK"),
        ([("Content-Type", "text/html; charset=UTF-16")], "200 OK"),
        ([("Content-Type", "text/html"), ("Content-Disposition", "attachment; filename=a.html")], "200 OK"),
        ([("Content-Type", "text/html"), ("Content-Length", "12, 12")], "200 OK"),
        ([("Content-Type", "text/html")], "304 Not Modified"),
        ([("Content-Type", "text/html")], "204 No Content"),
    ],
    ids=["json", "text", "no-type", "gzip", "utf-16", "attachment", "odd-length", "304", "204"],
)
def test_other_responses_are_passed_through_as_the_very_same_object(headers, status):
    body = [b"" if status.startswith(("204", "304")) else PAGE]
    sent: List[Any] = []

    def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> List[bytes]:
        start_response(status, headers)
        return body

    result = live(app)(environ(), lambda s, h, exc_info=None: sent.append((s, h)))
    assert result is body  # untouched: uWSGI can still sendfile() a file_wrapper
    assert sent == [(status, headers)]


@pytest.mark.parametrize(
    "request_environ",
    [
        environ(method="HEAD"),
        environ(method="POST"),
        environ(HTTP_X_REQUESTED_WITH="XMLHttpRequest"),
        environ(HTTP_HX_REQUEST="true"),
        environ(HTTP_SEC_FETCH_DEST="empty"),
        environ(HTTP_SEC_FETCH_DEST="script"),
    ],
    ids=["head", "post", "xhr", "htmx", "fetch", "script"],
)
def test_requests_for_anything_but_a_page_shown_in_a_tab_get_no_script(request_environ):
    assert call(live(html_app([PAGE])), request_environ, validate=False).body == PAGE


@pytest.mark.parametrize("destination", ["document", "iframe"])
def test_navigations_and_frames_get_the_script(destination):
    assert SCRIPT_TAG.search(call(live(html_app([PAGE])), environ(HTTP_SEC_FETCH_DEST=destination)).body)


def test_a_second_middleware_around_the_same_app_adds_nothing():
    response = call(live(live(html_app([PAGE]))))
    assert len(SCRIPT_TAG.findall(response.body)) == 1


def test_the_app_iterable_is_closed():
    closed: List[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield PAGE

        def close(self) -> None:
            closed.append(True)

    def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Body:
        start_response("200 OK", [("Content-Type", "text/html")])
        return Body()

    call(live(app))
    assert closed == [True]


def test_urls_follow_the_mountpoint_and_every_value_is_escaped():
    app = LiveReload(html_app([PAGE]), lambda: '"><img src=x onerror=alert(1)>', loopback_only)
    response = call(app, environ(SCRIPT_NAME="/my app"))
    (tag,) = SCRIPT_TAG.findall(response.body)
    assert b'src="/my%20app/__uwsgi_reload__/live.js"' in tag
    assert b'data-generation="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"' in tag
    assert b"<img" not in tag


# -- its own endpoints -----------------------------------------------------------------------


def test_the_status_answers_the_generation_of_the_moment_uncached():
    generations = iter(["one", "two"])
    app = LiveReload(html_app([PAGE]), lambda: next(generations), loopback_only)
    first, second = call(app, environ(STATUS_PATH)), call(app, environ(STATUS_PATH))
    assert (first.status, first.body, second.body) == ("200 OK", b"one", b"two")
    assert first.header("Cache-Control") == "no-store"


def test_the_script_is_served_as_javascript_and_other_paths_of_ours_are_404():
    script = call(live(html_app([PAGE])), environ(SCRIPT_PATH))
    assert script.header("Content-Type").startswith("text/javascript") and script.body == script_source()
    assert b"visibilitychange" in script.body and b"location.reload()" in script.body
    assert call(live(html_app([PAGE])), environ("/__uwsgi_reload__/other")).status.startswith("404")


def test_a_client_not_allowed_talks_to_the_app_alone():
    seen: List[str] = []

    def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> List[bytes]:
        seen.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/html")])
        return [PAGE]

    for path in ("/", STATUS_PATH, SCRIPT_PATH):
        assert call(live(app), environ(path, address="203.0.113.9")).body == PAGE
    assert seen == ["/", STATUS_PATH, SCRIPT_PATH]


# -- who is allowed, and the options ---------------------------------------------------------


@pytest.mark.parametrize(
    "address, allowed",
    [
        ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True),
        ("10.0.2.2", True), ("192.168.56.7", True), ("192.168.57.1", False),
        ("10.0.2.3", False), ("203.0.113.9", False), ("", False), ("localhost", False), ("fe80::1%eth0", False),
    ],
)
def test_loopback_and_the_listed_addresses_are_allowed(address, allowed):
    clients = ClientFilter([ipaddress.ip_network("10.0.2.2"), ipaddress.ip_network("192.168.56.0/24")])
    assert clients(address) is allowed


def test_who_is_allowed_reads_well_in_a_log_line():
    assert ClientFilter().describe() == "loopback"
    networks = [ipaddress.ip_network("10.0.2.2"), ipaddress.ip_network("192.168.56.0/24")]
    assert ClientFilter(networks).describe() == "loopback and 10.0.2.2/32, 192.168.56.0/24"


def test_the_browser_keys_are_off_by_default_and_read_every_value():
    assert read_browser_options({}) == (read_browser_options({})[0], [])
    assert read_browser_options({})[0].enabled is False
    options, problems = read_browser_options({
        "uwsgi-reload-browser": ["true"],
        "uwsgi-reload-browser-allow": ["10.0.2.2 192.168.56.0/24", "fd00::/8"],
    })
    assert options.enabled and problems == []
    assert [str(network) for network in options.allow] == ["10.0.2.2/32", "192.168.56.0/24", "fd00::/8"]


def test_bad_browser_values_are_named_and_ignored():
    options, problems = read_browser_options({
        "uwsgi-reload-browser": ["sometimes"], "uwsgi-reload-browser-allow": ["10.0.2.2 vagrant-host"],
    })
    assert options.enabled is False and [str(n) for n in options.allow] == ["10.0.2.2/32"]
    assert problems == [
        "uwsgi-reload-browser = 'sometimes' is not true or false; using false",
        "uwsgi-reload-browser-allow: 'vagrant-host' is not an IP address or network "
        "(such as 10.0.2.2 or 192.168.56.0/24); ignored",
    ]


def test_networks_beyond_private_addresses_are_called_wide():
    networks = [ipaddress.ip_network(text) for text in ("10.0.2.2", "192.168.0.0/16", "0.0.0.0/0", "8.8.8.0/24")]
    assert [str(network) for network in wide_networks(networks)] == ["0.0.0.0/0", "8.8.8.0/24"]


@pytest.mark.parametrize("interval, poll", [(3.0, 1.0), (1.0, 1.0), (0.5, 0.5), (0.1, 0.25)])
def test_pages_poll_at_the_scan_interval_within_bounds(interval, poll):
    assert poll_seconds(interval) == poll


# -- the error page --------------------------------------------------------------------------


def raised(source: str, filename: str) -> BaseException:
    try:
        exec(compile(textwrap.dedent(source), filename, "exec"), {})
    except Exception as error:
        return error
    raise AssertionError("no exception")


def test_a_syntax_error_shows_its_file_line_and_source_escaped(tmp_path):
    path = tmp_path / "shop <&> views.py"
    path.write_text('title = "<b>&"\ndef view(:\n    pass\n')
    try:
        compile(path.read_text(), str(path), "exec")
    except SyntaxError as error:
        page = render_error_page(error, str(tmp_path))
    assert "<title>SyntaxError in shop &lt;&amp;&gt; views.py · uwsgi_reload</title>" in page
    assert "in <code>shop &lt;&amp;&gt; views.py</code>, line 2" in page
    assert "File &quot;shop &lt;&amp;&gt; views.py&quot;, line 2" in page  # Python's own lines, path as shown
    assert '<span class="here"><span class="n">2</span>def view(:</span>' in page
    assert 'title = &quot;&lt;b&gt;&amp;&quot;' in page
    assert "<b>&" not in page and "<&>" not in page


def test_an_exception_at_import_shows_the_chain_and_every_frame(tmp_path):
    helper = tmp_path / "helper.py"
    helper.write_text("def load():\n    raise KeyError('<script>alert(1)</script>')\n")
    error = raised(f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("helper", {str(helper)!r})
        helper = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(helper)
        try:
            helper.load()
        except KeyError as error:
            raise RuntimeError("settings are broken") from error
    """, str(tmp_path / "app.py"))
    page = render_error_page(error, str(tmp_path))
    assert "RuntimeError: settings are broken" in page
    assert "The above exception was the direct cause of the following exception:" in page
    assert "<code>helper.py</code>, line 2, in <code>load</code>" in page
    assert "KeyError: &#x27;&lt;script&gt;alert(1)&lt;/script&gt;&#x27;" in page
    assert "<script>" not in page
    assert page.index("KeyError") < page.index("RuntimeError: settings are broken</pre>")


def test_control_characters_in_a_message_are_shown_escaped():
    page = render_error_page(ValueError("bad\x1b[31m value"), "/")
    assert "bad\\x1b[31m value" in page and "\x1b" not in page


def test_the_error_page_is_a_500_for_allowed_clients_and_a_bare_500_for_others():
    logged: List[str] = []
    error = raised("import module_that_does_not_exist\n", "/srv/app/app.py")
    page = ErrorPage(error, loopback_only, cwd="/srv/app", log=logged.append)
    mine = call(page)
    assert mine.status == "500 Internal Server Error" and mine.header("Content-Type") == "text/html; charset=utf-8"
    assert b"ModuleNotFoundError: No module named &#x27;module_that_does_not_exist&#x27;" in mine.body
    assert b"in <code>app.py</code>, line 1" in mine.body and logged == []
    theirs = call(page, environ(address="203.0.113.9"))
    assert (theirs.status, theirs.body, logged) == ("500 Internal Server Error", BARE_500, [NO_APP_LINE])


def test_the_error_page_refreshes_itself_through_the_middleware():
    page = live(ErrorPage(ValueError("x"), loopback_only))
    response = call(page)
    assert response.status.startswith("500") and SCRIPT_TAG.search(response.body)
    assert int(response.header("Content-Length")) == len(response.body)
    assert call(page, environ(STATUS_PATH)).body == b"gen-1"


def test_an_unknown_failure_still_gets_a_page():
    assert "uWSGI could not load the app" in render_error_page(None, "/")
