"""uwsgi-reload-browser against a real uWSGI, and in a real headless Chromium.

The browser tests need Debian's ``chromium`` and ``chromium-driver`` and
``selenium`` from PyPI (the ``test`` extra). Without them they are skipped,
saying what is missing, except under ``CI=true``, where they fail. Each state
they reach is saved as a screenshot in the test's tmp_path (``screenshots/``).
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import struct
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from conftest import TIMEOUT, Server, wait_until, write
from processes import free_port, stop_session

pytestmark = pytest.mark.uwsgi

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Prefixes only: the rest of these lines is the reloader's business.
STARTED = r"^uwsgi_reload: watching \d+ files"
RELOADED = r"^uwsgi_reload: .*changed, (reloading|restarting)"
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
    assert status == 200 and headers["cache-control"] == "no-store" and re.fullmatch(rb"[0-9.]+", body)
    # The one-shot import hook is gone once the app has been imported.
    assert get(server.port, "/hooks")[2] == b"builtin_function_or_method"
    server.wait_for_log(r"^uwsgi_reload: browser refresh on: pages shown to clients from loopback refresh once")
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
    server.wait_for_log(RELOADED)
    def new_generation() -> bool:
        try:
            return get(server.port, "/__uwsgi_reload__/status")[2] not in seen
        except (OSError, http.client.HTTPException):
            return False

    wait_until(new_generation, TIMEOUT, "a new generation once reloaded", server.tail)
    wait_for_page(server, '<h1 id="msg">two!</h1>')
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
    # The app's imports went through our import hook: its frames are not shown.
    assert "_uwsgi_browser" not in page and "_uwsgi_browser" not in server.log()
    write(page_app / broken_file, good.replace('"one"', '"fixed"'))
    server.wait_for_log(r"^uwsgi_reload: %s changed, reloading$" % re.escape(broken_file))
    wait_for_page(server, '<h1 id="msg">%s</h1>' % ("fixed" if broken_file == "helper.py" else "one"))


def test_lazy_apps_workers_answer_the_error_page_too(page_app, make_server):
    write(page_app / "app.py", "import helper\ndef application(environ, start_response:\n")
    server = make_server(ini("lazy-apps = true"))
    server.wait_for_log(r"^uwsgi_reload: the app did not load: ")
    answers: List[Any] = []

    def error_pages_from_every_worker() -> bool:
        with ThreadPoolExecutor(4) as pool:  # concurrent, so that they spread over the workers
            answers[:] = pool.map(lambda _: get(server.port), range(12))
        return all(status == 500 and b"<code>app.py</code>, line 2" in body for status, _, body in answers)

    def from_two_workers() -> bool:
        return error_pages_from_every_worker() and len(set(re.findall(r"\[pid: (\d+)\|app: 0\|.*\] GET / =>", server.log()))) > 1

    wait_until(from_two_workers, TIMEOUT, "error pages only, from two workers", lambda: repr(answers)[:2000])
    # Each worker set its error page up before it accepted: none answered uWSGI's bare 500.
    assert server.count(r"^--- no python application found") == 0


def test_only_loopback_and_listed_addresses_see_the_script_and_the_error_page(page_app, make_server):
    uwsgi_port = free_port()
    server = make_server(ini("socket = 127.0.0.1:%d" % uwsgi_port, "uwsgi-reload-browser-allow = 10.0.2.2"))
    server.wait_for_log(STARTED)
    status, body = uwsgi_get(uwsgi_port, "/", "10.0.2.2")  # Vagrant's host, listed
    assert status.endswith("200 OK") and SCRIPT_TAG.search(body.decode())
    status, body = uwsgi_get(uwsgi_port, "/", "203.0.113.9")  # anyone else
    assert status.endswith("200 OK") and b"<script" not in body
    write(page_app / "helper.py", 'MESSAGE = "two"\nbroken = (\n')
    server.wait_for_log(r"^uwsgi_reload: the app did not load: clients from loopback and 10\.0\.2\.2/32 get the error page")
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


# -- in a real browser -----------------------------------------------------------------------

CHROMIUM_FLAGS = (
    # As root Chromium needs --no-sandbox; without the background-networking
    # flags its own connections are refused by a closed network, and it stalls.
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1024,760",
)


def browser_missing() -> str:
    missing = []
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install selenium, or the test extra)")
    for name in ("chromium", "chromedriver"):
        if not shutil.which(name):
            missing.append("%s (apt-get install chromium chromium-driver)" % name)
    return ", ".join(missing)


class Browser:
    """One headless Chromium (and its chromedriver, in a session of their own)."""

    def __init__(self, folder: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.screenshots = folder / "screenshots"
        self.screenshots.mkdir(exist_ok=True)
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "chromium"
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        options.add_argument("--user-data-dir=" + self.profile)
        self.service = Service(
            shutil.which("chromedriver"), log_output=str(folder / "chromedriver.log"),
            popen_kw={"start_new_session": True},
        )
        self.driver = webdriver.Chrome(options=options, service=self.service)
        self.driver.set_page_load_timeout(TIMEOUT)

    def open(self, url: str) -> None:
        self.driver.get(url)

    def js(self, script: str) -> Any:
        from selenium.common.exceptions import WebDriverException

        try:
            return self.driver.execute_script(script)
        except WebDriverException:
            return None  # between two documents, during a refresh

    def text(self) -> str:
        return self.js("return document.body ? document.body.innerText : ''") or ""

    def wait_for_text(self, expected: str, describe: Callable[[], str] = str) -> None:
        wait_until(lambda: expected in self.text(), TIMEOUT, "%r in the page" % expected,
                   lambda: "page text: %r\n%s" % (self.text(), describe()))

    def screenshot(self, name: str) -> Path:
        path = self.screenshots / name
        self.driver.save_screenshot(str(path))
        return path

    def quit(self) -> None:
        pid = self.service.process.pid if self.service.process else None
        try:
            self.driver.quit()
        finally:
            if pid is not None:
                stop_session(pid)  # whatever of Chromium is left, by PID
            shutil.rmtree(self.profile, ignore_errors=True)


def require_browser() -> None:
    """Skip, saying what is missing; in CI (CI=true) fail instead: there it must run."""
    missing = browser_missing()
    if missing:
        message = "a real browser is needed for this test; missing: " + missing
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def test_without_a_browser_the_browser_tests_skip_locally_and_fail_in_ci(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"missing: .*chromium \(apt-get install chromium chromium-driver\)"):
        require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"missing: .*chromedriver"):
        require_browser()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    require_browser()
    started = Browser(tmp_path)
    try:
        yield started
    finally:
        started.quit()


def open_once_served(browser: Browser, server: Server, path: str = "/") -> str:
    """Open *path* once uWSGI answers: a browser does not retry a refused first load.
    (It asks the status, so that the app's own page requests can be counted.)"""
    def answers() -> bool:
        try:
            return get(server.port, "/__uwsgi_reload__/status")[0] == 200
        except (OSError, http.client.HTTPException):
            return False

    wait_until(answers, TIMEOUT, "uWSGI answering", server.tail)
    url = "http://127.0.0.1:%d%s" % (server.port, path)
    browser.open(url)
    return url


def polls(browser: Browser) -> int:
    return browser.js("return window.__uwsgiReload ? window.__uwsgiReload.polls : -1")


@pytest.mark.browser
@pytest.mark.parametrize("router", [False, True], ids=["http-socket", "http-router"])
def test_a_saved_edit_shows_in_the_open_page_with_nobody_touching_it(page_app, make_server, browser, router):
    server = make_server(ini(router=router))
    open_once_served(browser, server)
    browser.wait_for_text("one", server.tail)
    browser.js("window.untouched = true")  # gone once the page has been refreshed
    browser.screenshot("1-page.png")
    server.wait_for_log(STARTED)

    write(page_app / "helper.py", 'MESSAGE = "two, saved"\n')
    browser.wait_for_text("two, saved", server.tail)
    browser.screenshot("2-edited.png")
    assert browser.js("return window.untouched === undefined") is True
    assert server.count(PAGE_REQUEST) == 2

    # Refreshed once, never again: three polls of the new page later it is
    # still the same document, and the app has served the page twice.
    wait_until(lambda: polls(browser) >= 3, TIMEOUT, "three polls of the refreshed page", server.tail)
    assert browser.js("return window.untouched === undefined") is True
    assert server.count(PAGE_REQUEST) == 2


@pytest.mark.browser
@pytest.mark.parametrize("case", ["wsgi-file-syntax-error", "module-syntax-error", "wsgi-file-import-error"])
def test_a_syntax_error_shows_in_the_page_and_the_fix_brings_the_app_back(page_app, make_server, browser, case):
    loader, broken_file, text = BROKEN[case]
    server = make_server(ini(loader=loader))
    url = open_once_served(browser, server)
    browser.wait_for_text("one", server.tail)
    browser.screenshot("1-page.png")
    server.wait_for_log(STARTED)
    good = (page_app / broken_file).read_text()

    write(page_app / broken_file, text)
    error = "ModuleNotFoundError" if "import" in case else "SyntaxError"
    browser.wait_for_text(error, server.tail)
    browser.wait_for_text("in %s, line" % broken_file, server.tail)
    browser.screenshot("2-error.png")
    assert browser.driver.current_url == url
    assert browser.driver.title.startswith("%s in %s" % (error, broken_file))

    write(page_app / broken_file, good.replace('"one"', '"fixed"'))
    browser.wait_for_text("fixed" if broken_file == "helper.py" else "one", server.tail)
    browser.screenshot("3-fixed.png")
    assert "Shop" == browser.driver.title


FRAMEWORKS = {
    # example folder: (file to edit, old text, new text), and how its page becomes HTML
    "django": ("shop/views.py", [('HttpResponse("Hello from Django", content_type="text/plain")',
                                  'HttpResponse("<!DOCTYPE html><html><body><h1>Hello from Django</h1></body></html>")')]),
    "flask": ("templates/index.html", []),
    "pyramid": ("app.py", [('Response("Hello from Pyramid", content_type="text/plain")',
                            'Response("<!DOCTYPE html><html><body><h1>Hello from Pyramid</h1></body></html>", '
                            'content_type="text/html")')]),
    "plain": ("greeting.py", [('"text/plain; charset=utf-8"', '"text/html; charset=utf-8"')]),
}


@pytest.mark.browser
@pytest.mark.parametrize("name", list(FRAMEWORKS))
def test_each_framework_example_refreshes_with_the_ini_key_alone(tmp_path, make_server, browser, name):
    if name != "plain":
        pytest.importorskip(name)
    folder = tmp_path / name
    shutil.copytree(EXAMPLES / name, folder)
    edited, html = FRAMEWORKS[name]
    for path in folder.rglob("*.py"):  # the page as HTML: the only change to the example's code
        text = path.read_text()
        for old, new in html:
            text = text.replace(old, new)
        path.write_text(text)
    ini_text = (folder / "uwsgi.ini").read_text().replace("127.0.0.1:8000", "127.0.0.1:{port}")
    server = make_server(ini_text.replace("{", "{{").replace("}", "}}").replace("{{port}}", "{port}")
                         + "uwsgi-reload-browser = true\n", folder=folder)
    open_once_served(browser, server)
    greeting = "Hello from plain WSGI" if name == "plain" else "Hello from %s" % name.capitalize()
    browser.wait_for_text(greeting, server.tail)
    server.wait_for_log(STARTED)
    target = folder / edited
    write(target, target.read_text().replace(greeting.rsplit(" ", 1)[0], "Edited, hello from"))
    browser.wait_for_text("Edited, hello from", server.tail)
    browser.screenshot("%s-edited.png" % name)
    assert server.count(RELOADED) == 1


@pytest.mark.browser
def test_a_hidden_tab_stops_asking_and_asks_again_once_shown(page_app, make_server, browser):
    server = make_server(ini('log-format = [pid: %(pid)] %(method) %(uri) referer=%(referer)'))
    url = "http://127.0.0.1:%d/" % server.port
    open_once_served(browser, server, "/?tab=a")
    browser.wait_for_text("one", server.tail)
    tab_a = browser.driver.current_window_handle

    def asked(tab: str) -> int:
        return server.count(r"GET /__uwsgi_reload__/status referer=%s\?tab=%s$" % (re.escape(url), tab))

    wait_until(lambda: asked("a") >= 2, TIMEOUT, "polls from tab a", server.tail)
    browser.driver.switch_to.new_window("tab")  # tab a is hidden now
    browser.open(url + "?tab=b")
    browser.wait_for_text("one", server.tail)
    hidden_at, b_at = asked("a"), asked("b")
    wait_until(lambda: asked("b") >= b_at + 5, TIMEOUT, "five polls from tab b", server.tail)
    assert asked("a") <= hidden_at + 1  # at most the one already on its way

    browser.driver.switch_to.window(tab_a)  # shown again: it asks at once, and keeps asking
    wait_until(lambda: asked("a") >= hidden_at + 3, TIMEOUT, "polls from tab a once shown", server.tail)
    assert server.count(r"\] GET /\?tab=\w referer=") == 2  # no page was refreshed
