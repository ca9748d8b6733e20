"""uwsgi-reload-browser against a real uWSGI."""

from __future__ import annotations

import http.client
import re
import socket
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from conftest import TIMEOUT, Server, wait_until, write
from processes import free_port

pytestmark = pytest.mark.uwsgi

STARTED = r"^uwsgi_reload: watching \d+ files every"
RELOADED = r"^uwsgi_reload: .*changed, reloading$"
SCRIPT_TAG = re.compile(r'<script src="/__uwsgi_reload__/live\.js" data-status="/__uwsgi_reload__/status" '
                        r'data-generation="[^"]+" data-interval="\d+"></script>')
PAGE_REQUEST = r"\] GET /(\?\S*)? =>"

PAGE_APP = '''
import helper

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Shop</title>
<style>body{font:17px system-ui,sans-serif;margin:40px}h1{color:#0b57d0}</style></head>
<body><h1 id="msg">%s</h1><p>Served by uWSGI; edit helper.py and save.</p></body></html>
"""


def application(environ, start_response):
    body = (PAGE % helper.MESSAGE).encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
'''

INI = """
[uwsgi]
master = true
processes = 4
http-socket = 127.0.0.1:{port}
{loader}
import = uwsgi_reload
uwsgi-reload-interval = 0.5
uwsgi-reload-browser = true
"""


def ini(*lines: str, loader: str = "wsgi-file = app.py", router: bool = False) -> str:
    text = INI.replace("{loader}", loader)
    if router:  # the http router in front: it is killed, and refuses connections, at every reload
        text = text.replace("http-socket = 127.0.0.1:{port}", "http = 127.0.0.1:{port}")
    return text + "".join(line + "\n" for line in lines)


@pytest.fixture
def page_app(tmp_path: Path) -> Path:
    write(tmp_path / "app.py", PAGE_APP)
    write(tmp_path / "helper.py", 'MESSAGE = "one"\n')
    return tmp_path


def get(port: int, path: str = "/", headers: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def wait_for_page(server: Server, text: str) -> None:
    """Until / answers 200 with *text* in the page (which also carries our script)."""
    last: List[Any] = []

    def served() -> bool:
        try:
            last[:] = [get(server.port)]
        except (OSError, http.client.HTTPException) as error:
            last[:] = [error]
            return False
        return last[0][0] == 200 and text.encode() in last[0][2]

    wait_until(served, TIMEOUT, "%r at /" % text, lambda: "last answer: %r\n%s" % (last, server.tail()))


def uwsgi_get(port: int, path: str, remote_addr: str) -> Tuple[str, bytes]:
    """GET over the uwsgi protocol, as a web server in front (nginx) sends it:
    the sender sets REMOTE_ADDR, here to an address other than loopback."""
    variables = {
        "REQUEST_METHOD": "GET", "REQUEST_URI": path, "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "shop.test", "SERVER_PORT": "80",
        "HTTP_HOST": "shop.test", "REMOTE_ADDR": remote_addr,
    }
    data = b"".join(
        struct.pack("<H", len(key)) + key + struct.pack("<H", len(value)) + value
        for key, value in ((k.encode(), v.encode()) for k, v in variables.items())
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(struct.pack("<BHB", 0, len(data), 0) + data)
        received = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode(), body


# -- without a browser: what goes over HTTP --------------------------------------------------

PROBE_APP = '''
import builtins, importlib._bootstrap_external as external, json

def application(environ, start_response):
    if environ["PATH_INFO"] == "/hooks":
        body = json.dumps({
            "import": type(builtins.__import__).__name__,
            "fix_up": external._fix_up_module.__qualname__,
        }).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"<html><body>app page</body></html>"]
'''


def test_without_the_key_pages_status_and_imports_are_untouched(tmp_path, make_server):
    write(tmp_path / "app.py", PROBE_APP)
    server = make_server(ini().replace("uwsgi-reload-browser = true\n", ""))
    server.wait_for_log(STARTED)
    assert get(server.port)[2] == b"<html><body>app page</body></html>"
    assert get(server.port, "/__uwsgi_reload__/status")[2] == b"<html><body>app page</body></html>"
    assert get(server.port, "/hooks")[2] == b'{"import": "builtin_function_or_method", "fix_up": "_fix_up_module"}'
    assert server.count(r"^uwsgi_reload: browser") == 0


STREAM_APP = '''
import json

PAGE = b"<!DOCTYPE html><html><body><p>page</p></body></html>"


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/sized":
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(PAGE)))])
        return [PAGE]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return (part for part in (b"<html><body>", b"<p>streamed</p>", b"</body></html>"))
    if path == "/json":
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "11")])
        return [b'{"a": "</body>"}'[:11]]
    if path == "/hooks":
        import builtins
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [type(builtins.__import__).__name__.encode()]
    start_response("404 Not Found", [("Content-Type", "text/html")])
    return [b"<p>missing</p>"]
'''


@pytest.mark.parametrize("loader", ["wsgi-file = app.py", "module = app:application"])
def test_pages_get_the_script_lengths_stay_right_and_other_bodies_are_byte_identical(tmp_path, make_server, loader):
    write(tmp_path / "app.py", STREAM_APP)
    server = make_server(ini(loader=loader))
    server.wait_for_log(STARTED)
    status, headers, body = get(server.port, "/sized")
    assert status == 200 and len(SCRIPT_TAG.findall(body.decode())) == 1
    assert int(headers["content-length"]) == len(body)
    assert body.decode().endswith("</script></body></html>")
    status, headers, body = get(server.port, "/stream")
    assert "content-length" not in headers
    assert SCRIPT_TAG.sub("", body.decode()) == "<html><body><p>streamed</p></body></html>"
    assert get(server.port, "/json")[2] == b'{"a": "</bo'
    assert SCRIPT_TAG.search(get(server.port, "/elsewhere")[2].decode()), "a 404 page is a page too"
    assert get(server.port, "/sized", {"Sec-Fetch-Dest": "empty"})[2].decode().count("<script") == 0
    status, headers, body = get(server.port, "/__uwsgi_reload__/status")
    assert status == 200 and headers["cache-control"] == "no-store" and re.fullmatch(rb"\d+\.\d+", body)
    # The one-shot import hook is gone once the app has been imported.
    assert get(server.port, "/hooks")[2] == b"builtin_function_or_method"
    server.wait_for_log(r"^uwsgi_reload: browser refresh on: HTML pages for loopback refresh")
    assert server.count(r"^uwsgi_reload: browser refresh on") == 1


def test_every_worker_answers_the_same_generation_and_a_reload_changes_it(page_app, make_server):
    server = make_server(ini())
    server.wait_for_log(STARTED)
    seen = set()

    def two_workers_answered() -> bool:
        with ThreadPoolExecutor(4) as pool:  # concurrent, so that the answers spread over the workers
            seen.update(pool.map(lambda _: get(server.port, "/__uwsgi_reload__/status")[2], range(8)))
        return len(set(re.findall(r"\[pid: (\d+)\|.*GET /__uwsgi_reload__/status", server.log()))) > 1

    wait_until(two_workers_answered, TIMEOUT, "status answers from two workers", server.tail)
    assert len(seen) == 1
    write(page_app / "helper.py", 'MESSAGE = "two!"\n')
    server.wait_for_log(STARTED, count=2)
    assert get(server.port, "/__uwsgi_reload__/status")[2] not in seen


BROKEN = {
    "wsgi-file-syntax-error": ("wsgi-file = app.py", "app.py", "import helper\ndef application(environ, start_response:\n"),
    "wsgi-file-import-error": ("wsgi-file = app.py", "helper.py", "import module_that_does_not_exist\n"),
    "module-syntax-error": ("module = app:application", "helper.py", 'MESSAGE = "two"\nbroken = (\n'),
    "module-exception": ("module = app", "helper.py", "MESSAGE = undefined_name\n"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_app_answers_the_error_page_to_loopback_and_the_fix_is_served(page_app, make_server, case):
    loader, broken_file, text = BROKEN[case]
    good = (page_app / broken_file).read_text()
    write(page_app / broken_file, text)
    server = make_server(ini(loader=loader))
    server.wait_for_log(r"^uwsgi_reload: (the app did not load|watching)")
    status, headers, body = get(server.port)
    page = body.decode()
    assert status == 500 and headers["content-type"] == "text/html; charset=utf-8", page
    assert int(headers["content-length"]) == len(body)
    assert "<code>%s</code>, line" % broken_file in page
    assert re.search(r"(SyntaxError|ModuleNotFoundError|NameError)", page)
    assert len(SCRIPT_TAG.findall(page)) == 1
    write(page_app / broken_file, good.replace('"one"', '"fixed"'))
    server.wait_for_log(r"^uwsgi_reload: %s changed, reloading$" % re.escape(broken_file))
    wait_for_page(server, '<h1 id="msg">%s</h1>' % ("fixed" if broken_file == "helper.py" else "one"))


def test_lazy_apps_workers_answer_the_error_page_too(page_app, make_server):
    write(page_app / "app.py", "import helper\ndef application(environ, start_response:\n")
    server = make_server(ini("lazy-apps = true"))
    server.wait_for_log(r"^uwsgi_reload: the app did not load: ")
    answers: List[Any] = []

    def error_pages_from_every_worker() -> bool:
        # A lazy worker sets up the error page a moment after it starts
        # accepting, so a request may still meet uWSGI's bare 500 very early.
        with ThreadPoolExecutor(4) as pool:  # concurrent, so that they spread over the workers
            answers[:] = pool.map(lambda _: get(server.port), range(12))
        return all(status == 500 and b"<code>app.py</code>, line 2" in body for status, _, body in answers)

    def from_two_workers() -> bool:
        return error_pages_from_every_worker() and len(set(re.findall(r"\[pid: (\d+)\|app: 0\|.*\] GET / =>", server.log()))) > 1

    wait_until(from_two_workers, TIMEOUT, "error pages only, from two workers", lambda: repr(answers)[:2000])


def test_only_loopback_and_listed_addresses_see_the_script_and_the_error_page(page_app, make_server):
    uwsgi_port = free_port()
    server = make_server(ini("socket = 127.0.0.1:%d" % uwsgi_port, "uwsgi-reload-browser-allow = 10.0.2.2"))
    server.wait_for_log(STARTED)
    status, body = uwsgi_get(uwsgi_port, "/", "10.0.2.2")  # Vagrant's host, listed
    assert status.endswith("200 OK") and SCRIPT_TAG.search(body.decode())
    status, body = uwsgi_get(uwsgi_port, "/", "203.0.113.9")  # anyone else
    assert status.endswith("200 OK") and b"<script" not in body
    write(page_app / "helper.py", 'MESSAGE = "two"\nbroken = (\n')
    server.wait_for_log(r"^uwsgi_reload: the app did not load: loopback 10\.0\.2\.2/32 get the error page")
    status, body = uwsgi_get(uwsgi_port, "/", "10.0.2.2")
    assert status.endswith("500 Internal Server Error") and b"SyntaxError" in body
    for path in ("/", "/__uwsgi_reload__/status"):
        status, body = uwsgi_get(uwsgi_port, path, "203.0.113.9")
        assert (status.endswith("500 Internal Server Error"), body) == (True, b"Internal Server Error")
    assert server.count(r"^--- no python application found, check your startup logs for errors ---$") == 2
    assert get(server.port)[0] == 500 and b"SyntaxError" in get(server.port)[2]


ESCAPED_APP = '''
raise RuntimeError("<script>alert('pwned')</script> & more")
'''


def test_everything_the_error_page_shows_is_escaped(tmp_path, make_server):
    odd = tmp_path / "odd <b>dir"
    odd.mkdir()
    write(odd / "app.py", ESCAPED_APP)
    server = make_server(ini(loader="wsgi-file = odd <b>dir/app.py"))
    server.wait_for_log(r"^uwsgi_reload: the app did not load")
    page = get(server.port)[2].decode()
    assert "RuntimeError: &lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt; &amp; more" in page
    assert "<code>odd &lt;b&gt;dir/app.py</code>, line 2" in page
    assert "<script>alert" not in page and "<b>dir" not in page


MOUNTED_APP = '''
import uwsgi_reload


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"<html><body>mounted</body></html>"]


application = uwsgi_reload.live_reload(application)
'''


def test_an_app_the_ini_cannot_wrap_says_so_and_takes_the_documented_line(tmp_path, make_server):
    write(tmp_path / "app.py", MOUNTED_APP)
    server = make_server(ini(loader="mount = /=app.py"))
    server.wait_for_log(STARTED)
    server.wait_for_log(
        r"^uwsgi_reload: uwsgi-reload-browser cannot wrap the app from the ini \(the app is not loaded by "
        r"module = or wsgi-file =\): add application = uwsgi_reload\.live_reload\(application\) to the code$"
    )
    assert SCRIPT_TAG.search(get(server.port)[2].decode())
