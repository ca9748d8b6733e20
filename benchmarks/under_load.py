"""Requests lost while reloading under load: many reloads, clients that never pause.

A real uWSGI master with ``http-socket`` on 127.0.0.1 and 4 workers serves a
two-module app; ``--clients`` threads send requests back to back, each on a
fresh connection, while helper.py is saved ``--reloads`` times (the next save
once the last one is served). A failure is any request that got no answer or
an HTTP 5xx. Run it once with the package under test importable, and once
with another version first on PYTHONPATH to compare:

    python benchmarks/under_load.py                      # about 3.5 minutes
    PYTHONPATH=/path/to/old python benchmarks/under_load.py

A reset here came from uWSGI's graceful exit closing a connection it had
accepted but not yet read (see uwsgi_reload/_exit.py): 5 resets in 800
reloads (692,000 requests) before the workers held SIGHUP until they were
between requests, none in 1,200 reloads (993,000 requests) since.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Counter, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
from processes import free_port, stop_server  # noqa: E402  (shared with the tests)

APP = """\
import helper


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [helper.MESSAGE.encode()]
"""

INI = """\
[uwsgi]
master = true
processes = 4
http-socket = 127.0.0.1:{port}
wsgi-file = app.py
import = uwsgi_reload
uwsgi-reload-interval = {interval}
disable-logging = true
"""


def get(port: int) -> Tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


class Clients:
    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.sent = 0
        self.failures: Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run) for _ in range(count)]

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                status, _ = get(self.port)
                failure = "HTTP %d" % status if status >= 500 else ""
            except (OSError, http.client.HTTPException) as error:
                failure = type(error).__name__
            with self.lock:
                self.sent += 1
                if failure:
                    self.failures[failure] += 1


def wait_for_body(port: int, body: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if get(port)[1] == body:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.01)
    raise SystemExit("%r was not served within %gs" % (body, timeout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reloads", type=int, default=400)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--interval", default="0.25")
    arguments = parser.parse_args()
    uwsgi = os.path.join(os.path.dirname(sys.executable), "uwsgi")
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        with open(os.path.join(folder, "app.py"), "w") as app:
            app.write(APP)
        helper = os.path.join(folder, "helper.py")
        with open(helper, "w") as module:
            module.write('MESSAGE = "edit 0"\n')
        with open(os.path.join(folder, "uwsgi.ini"), "w") as ini:
            ini.write(INI.format(port=port, interval=arguments.interval))
        with open(os.path.join(folder, "uwsgi.log"), "wb") as log:
            server = subprocess.Popen([uwsgi, "--ini", "uwsgi.ini"], cwd=folder, stdout=log, stderr=log,
                                      start_new_session=True)
        try:
            wait_for_body(port, "edit 0")
            clients = Clients(port, arguments.clients)
            for thread in clients.threads:
                thread.start()
            started = time.monotonic()
            try:
                for number in range(1, arguments.reloads + 1):
                    time.sleep(0.05)  # past the settle window: each save is its own reload
                    with open(helper, "w") as module:
                        module.write('MESSAGE = "edit %d"\n' % number)
                    wait_for_body(port, "edit %d" % number)
            finally:
                clients.stop.set()
                for thread in clients.threads:
                    thread.join()
            took = time.monotonic() - started
        finally:
            stop_server(server)
    failed = sum(clients.failures.values())
    print("%d reloads in %.0f s (interval %s, 4 workers, %d clients): %d requests, %d failed%s"
          % (arguments.reloads, took, arguments.interval, arguments.clients, clients.sent, failed,
             " (%s)" % ", ".join("%s: %d" % item for item in sorted(clients.failures.items())) if failed else ""))


if __name__ == "__main__":
    main()
