"""Save to visible in a real browser, next to save to served by HTTP, with uwsgi-reload-browser.

The app of instance.py (3000 generated modules, 4 workers, master,
``http-socket`` on 127.0.0.1, interval 1 s) answers an HTML page with
``value.VALUE``, and ``uwsgi-reload-browser = true``. A headless Chromium
(Debian's ``chromium`` and ``chromium-driver``, ``selenium``) has the page
open. At a random moment (1.2-2.2 s after the last reload) value.py is
rewritten; from then on:

- *served*: a client polls ``/`` over HTTP every 20 ms until it gets the new
  value (what instance.py measures);
- *visible*: the page the browser shows has the new value in its DOM: the page
  itself records when (``performance.timeOrigin + performance.now()`` in an
  inline script after the value, the same clock as Python's ``time.time()``).

Then what the polls cost: one idle tab's requests per minute, uWSGI's CPU
per poll (the instance's session, with the tab open and without it) and the
log bytes of each.

    python benchmarks/browser.py [--quick] [--saves 10] [--interval 1] [--modules 3000] [--router]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Iterator, List, Optional

from instance import percentile, session_cpu
from scan_cost import write_package

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from processes import free_port, stop_server, stop_session  # noqa: E402  (shared with the tests)

POLL = 0.02

APP = """\
import imports  # the {modules} generated modules
import value

PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>bench</title></head><body>"
    "<p id='value'>%s</p><script>window.shownAt = performance.timeOrigin + performance.now()</script>"
    "</body></html>"
)


def application(environ, start_response):
    body = (PAGE % value.VALUE).encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
"""

INI = """\
[uwsgi]
master = true
processes = 4
{socket} = 127.0.0.1:{port}
pythonpath = {folder}
wsgi-file = app.py
import = uwsgi_reload
uwsgi-reload-interval = {interval:g}
uwsgi-reload-browser = true
"""

CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)


def save_value(folder: str, token: str, serial: int) -> None:
    """As instance.py: a unique size per version, so a stale .pyc is never taken for it."""
    with open(os.path.join(folder, "value.py"), "w") as out:
        out.write("VALUE = %r\n# %s\n" % (token, "." * serial))


def get(port: int, path: str = "/") -> Optional[bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        return body if response.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


@contextlib.contextmanager
def instance(folder: str, interval: float, router: bool) -> "Iterator[tuple[int, int]]":
    """A started uWSGI: (its port, its session = the master's PID); stopped afterwards."""
    port = free_port()
    with open(os.path.join(folder, "uwsgi.ini"), "w") as out:
        out.write(INI.format(socket="http" if router else "http-socket", port=port, folder=folder, interval=interval))
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    with open(os.path.join(folder, "uwsgi.log"), "ab") as log:
        process = subprocess.Popen(
            [os.path.join(os.path.dirname(sys.executable), "uwsgi"), "--ini", "uwsgi.ini"],
            cwd=folder, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=env,
        )
    try:
        deadline = time.monotonic() + 60
        while get(port) is None:
            if time.monotonic() > deadline:
                raise RuntimeError("uWSGI did not serve the app; see %s/uwsgi.log" % folder)
            time.sleep(POLL)
        yield port, process.pid
    finally:
        stop_server(process)


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options.add_argument("--user-data-dir=" + profile)
    service = Service(shutil.which("chromedriver"), popen_kw={"start_new_session": True})
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        pid = service.process.pid if service.process else None
        try:
            driver.quit()
        finally:
            if pid is not None:
                stop_session(pid)
            shutil.rmtree(profile, ignore_errors=True)


def shown(driver: object, token: str) -> Optional[float]:
    """When the open page got *token* into its DOM (epoch seconds), or None yet."""
    try:
        found = driver.execute_script(  # type: ignore[attr-defined]
            "var v = document.getElementById('value');"
            "return v && v.textContent === arguments[0] && window.shownAt ? window.shownAt : null;", token)
    except Exception:  # between two documents
        return None
    return found / 1000 if found else None


def one_save(folder: str, port: int, driver: object, serial: int, timeout: float = 30) -> "tuple[float, float]":
    token = "v%d" % serial
    served: List[float] = []

    def probe(saved_at: float) -> None:
        while time.monotonic() - saved_at < timeout:
            body = get(port)
            if body is not None and (">%s<" % token).encode() in body:
                served.append(time.monotonic() - saved_at)
                return
            time.sleep(POLL)

    save_value(folder, token, serial)
    saved_wall, saved = time.time(), time.monotonic()
    thread = threading.Thread(target=probe, args=(saved,), daemon=True)
    thread.start()
    visible = None
    while time.monotonic() - saved < timeout:
        at = shown(driver, token)
        if at is not None:
            visible = at - saved_wall
            break
        time.sleep(POLL)
    thread.join(timeout)
    if visible is None or not served:
        raise RuntimeError("save %d was not %s within %gs" % (serial, "visible" if visible is None else "served", timeout))
    return served[0], visible


def session_cpu_ms(session: int) -> float:
    return sum(session_cpu(session).values()) / 1e6


class Cost:
    """What one open tab's polls cost the instance."""

    def __init__(self, folder: str, port: int, session: int, driver: object, seconds: float, requests: int) -> None:
        log = os.path.join(folder, "uwsgi.log")
        status_line = re.compile(r"GET /__uwsgi_reload__/status .*\n")
        with open(log, errors="replace") as text:
            start = len(text.read())
        time.sleep(seconds)  # the tab polls on its own meanwhile
        with open(log, errors="replace") as text:
            lines = status_line.findall(text.read()[start:])
        self.per_minute = len(lines) * 60 / seconds
        self.log_bytes = sum(map(len, lines)) / max(1, len(lines))
        driver.get("about:blank")  # type: ignore[attr-defined]
        # The instance idle, then asked back to back: the difference is the requests'.
        cpu, started = session_cpu_ms(session), time.monotonic()
        time.sleep(seconds)
        self.idle = (session_cpu_ms(session) - cpu) / (time.monotonic() - started)
        self.status_us, self.status_ms = self._requests(port, session, "/__uwsgi_reload__/status", requests)
        self.page_us, self.page_ms = self._requests(port, session, "/", requests)

    def _requests(self, port: int, session: int, path: str, count: int) -> "tuple[float, float]":
        cpu, started = session_cpu_ms(session), time.monotonic()
        for _ in range(count):
            if get(port, path) is None:
                raise RuntimeError("%s did not answer" % path)
        elapsed = time.monotonic() - started
        used = session_cpu_ms(session) - cpu - self.idle * elapsed
        return used * 1000 / count, elapsed * 1000 / count


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saves", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0, help="uwsgi-reload-interval (pages poll at it, 0.25-1 s)")
    parser.add_argument("--modules", type=int, default=3000)
    parser.add_argument("--router", action="store_true", help="the http = router instead of http-socket")
    parser.add_argument("--cost-seconds", type=float, default=20.0, help="how long the idle tab is watched")
    parser.add_argument("--requests", type=int, default=500, help="back-to-back requests to time one poll by")
    parser.add_argument("--quick", action="store_true", help="5 saves, 5 s of idle tab")
    args = parser.parse_args(argv)
    if args.quick:
        args.saves, args.cost_seconds, args.requests = 5, 5.0, 200

    folder = tempfile.mkdtemp(prefix="browser-bench-")
    try:
        names = write_package(folder, "gen", args.modules) if args.modules else []
        with open(os.path.join(folder, "imports.py"), "w") as imports:
            imports.writelines("import %s\n" % name for name in names)
        with open(os.path.join(folder, "app.py"), "w") as app:
            app.write(APP.format(modules=args.modules))
        save_value(folder, "v0", 0)
        subprocess.run([sys.executable, "-m", "compileall", "-q", folder], check=True)
        with instance(folder, args.interval, args.router) as (port, session), chromium() as driver:
            driver.get("http://127.0.0.1:%d/" % port)  # type: ignore[attr-defined]
            served, visible = [], []
            for serial in range(1, args.saves + 1):
                time.sleep(random.uniform(1.2, 2.2))
                http_s, browser_s = one_save(folder, port, driver, serial)
                served.append(http_s)
                visible.append(browser_s)
                print("  save %2d: served %.2f s, visible %.2f s" % (serial, http_s, browser_s), flush=True)
            cost = Cost(folder, port, session, driver, args.cost_seconds, args.requests)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    extra = [v - s for v, s in zip(visible, served)]
    print()
    print("Save to visible, %d saves, %d modules, 4 workers, interval %g s (pages poll every %g s), %s, "
          "Python %s, %d CPUs" % (args.saves, args.modules, args.interval, min(1.0, max(0.25, args.interval)),
                                  "http router" if args.router else "http-socket", sys.version.split()[0], os.cpu_count()))
    print("%-40s %7s %7s %7s %7s" % ("", "p50 s", "p95 s", "min s", "max s"))
    for name, values in (("save -> served by HTTP (20 ms polls)", served),
                         ("save -> visible in the browser", visible),
                         ("visible - served", extra)):
        print("%-40s %7.2f %7.2f %7.2f %7.2f" % (name, statistics.median(values), percentile(values, 0.95),
                                                min(values), max(values)))
    print("Polls of one open, idle tab: %.0f a minute, %.0f bytes of uWSGI log each" % (cost.per_minute, cost.log_bytes))
    print("One poll (%d back to back): %.0f µs of uWSGI CPU, %.2f ms round trip; one page with the script: "
          "%.0f µs, %.2f ms; the idle instance: %.2f CPU ms/s"
          % (args.requests, cost.status_us, cost.status_ms, cost.page_us, cost.page_ms, cost.idle))


if __name__ == "__main__":
    main()
