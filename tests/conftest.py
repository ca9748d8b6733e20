"""Real uWSGI servers for the tests: free loopback ports, stopped by PID, logs on failure."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import pytest

from processes import free_port, stop_server

#: Generous on purpose: a reload of a cold app on a loaded 2-core CI machine
#: can take several seconds. Timing is measured in benchmarks/, not here.
TIMEOUT = 40.0

# The log lines of the contract.
STARTED = r"^uwsgi_reload: watching \d+ files, checked every"
#: A reload of the whole instance, or of the workers alone.
RELOADED = r"^uwsgi_reload: .*changed, (reloading|restarting the workers \(only they imported it\))$"
WORKERS_ONLY = r"changed, restarting the workers \(only they imported it\)$"
#: The line that ends each reload, once the new code is served.
READY = r"^uwsgi_reload: reloaded for .* in \d+\.\d\ds$"


def uwsgi_binary() -> str:
    beside_python = Path(sys.executable).with_name("uwsgi")
    found = str(beside_python) if beside_python.exists() else shutil.which("uwsgi")
    if not found:
        pytest.fail("uWSGI is not installed: pip install '.[uwsgi,test]'")
    return found


def wait_until(condition: Callable[[], object], timeout: float, what: str, describe: Callable[[], str] = str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %gs waiting for %s\n%s" % (timeout, what, describe()))
        time.sleep(0.05)


class Server:
    """One uWSGI instance in its own session, with its ini and log in a folder."""

    def __init__(self, folder: Path, ini: str, **placeholders: object) -> None:
        self.folder = folder
        self.port = free_port()
        self.ini_path = folder / "uwsgi.ini"
        self.log_path = folder / "uwsgi.log"
        self.ini_path.write_text(textwrap.dedent(ini).format(port=self.port, **placeholders))
        self.process: Optional[subprocess.Popen] = None

    def start(self, *args: str, env: Optional[Dict[str, Optional[str]]] = None, wrapper: Sequence[str] = ()) -> "Server":
        """Start uWSGI with *args*; *env* sets (or, with None, unsets) variables;
        *wrapper* is a command uWSGI runs under (``unshare ...``)."""
        environ = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        environ.pop("PYTHONPATH", None)
        for name, value in (env or {}).items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*wrapper, uwsgi_binary(), "--ini", str(self.ini_path), *args],
                cwd=str(self.folder),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=environ,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 60) -> str:
        return "--- uwsgi.log (last %d lines) ---\n%s" % (lines, "\n".join(self.log().splitlines()[-lines:]))

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.log(), re.MULTILINE))

    def wait_for_log(self, pattern: str, count: int = 1, timeout: float = TIMEOUT) -> None:
        wait_until(lambda: self.count(pattern) >= count, timeout, "%d× %r in the log" % (count, pattern), self.tail)

    def get(self, path: str = "/", timeout: float = 10.0) -> Tuple[int, str]:
        """(status, body); (0, error) when the server does not answer."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as error:
            return 0, repr(error)
        finally:
            connection.close()

    def wait_for_body(self, expected: str, path: str = "/", timeout: float = TIMEOUT) -> None:
        last: List[Tuple[int, str]] = []

        def served() -> bool:
            last[:] = [self.get(path)]
            return last[0] == (200, expected)

        wait_until(served, timeout, "%r at %s" % (expected, path), lambda: "last answer: %r\n%s" % (last, self.tail()))

    def wait_for_status(self, status: int, path: str = "/", timeout: float = TIMEOUT) -> None:
        wait_until(lambda: self.get(path)[0] == status, timeout, "HTTP %d at %s" % (status, path), self.tail)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            stop_server(self.process)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for server in getattr(item, "uwsgi_servers", []):
            report.sections.append(("uWSGI log %s" % server.folder.name, server.log()))


@pytest.fixture
def make_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Server]]:
    """make_server(ini, **placeholders) -> a started Server in tmp_path, stopped afterwards."""
    servers: List[Server] = []
    request.node.uwsgi_servers = servers

    def make(
        ini: str,
        *args: str,
        folder: Optional[Path] = None,
        start: bool = True,
        env: Optional[Dict[str, Optional[str]]] = None,
        wrapper: Sequence[str] = (),
        **placeholders: object,
    ) -> Server:
        server = Server(folder or tmp_path, ini, **placeholders)
        servers.append(server)
        return server.start(*args, env=env, wrapper=wrapper) if start else server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


def write(path: Path, text: str) -> None:
    """Write a file so the change is visible to stat() whatever the clock granularity.

    Linux stamps mtimes from a coarse clock; two same-size writes in one tick
    would look identical, so each test edit also changes the size or is made
    well after the last.
    """
    path.write_text(textwrap.dedent(text))


APP = '''
import helper

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [helper.MESSAGE.encode()]
'''


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A plain WSGI app whose answer comes from helper.py."""
    write(tmp_path / "app.py", APP)
    write(tmp_path / "helper.py", 'MESSAGE = "one"\n')
    return tmp_path


class Facts(NamedTuple):
    """What the uWSGI under test is, asked from inside it: the tests run on
    several (PyPI old and new, Debian's, pyuwsgi), configured by UWSGI_*
    environment variables (``.ci/run``)."""

    version: str
    threads: bool
    decorators: bool
    pyuwsgi: bool
    gevent: bool


PROBE = '''
import json, sys, uwsgi
try:
    import uwsgidecorators
    decorators = True
except Exception:
    decorators = False
try:
    import gevent
    gevent_loop = True
except ImportError:
    gevent_loop = False
with open("facts.json", "w") as facts:
    json.dump({"version": uwsgi.version.decode() if isinstance(uwsgi.version, bytes) else uwsgi.version,
               "threads": bool(getattr(uwsgi, "has_threads", True)), "decorators": decorators,
               "pyuwsgi": "pyuwsgi" in sys.modules, "gevent": gevent_loop}, facts)
'''


@pytest.fixture(scope="session")
def uwsgi_facts(tmp_path_factory: pytest.TempPathFactory) -> Facts:
    folder = tmp_path_factory.mktemp("probe")
    (folder / "probe.py").write_text(PROBE)
    (folder / "app.py").write_text("def application(environ, start_response):\n    return []\n")
    server = Server(folder, "[uwsgi]\nmaster = true\nhttp-socket = 127.0.0.1:{port}\nimport = probe\nwsgi-file = app.py\n")
    try:
        server.start()
        wait_until(lambda: (folder / "facts.json").exists(), TIMEOUT, "the probe's facts", server.tail)
    finally:
        server.stop()
    facts = json.loads((folder / "facts.json").read_text())
    # The gevent loop is a plugin: built into PyPI's uWSGI, a package of its own in Debian.
    options = subprocess.run([uwsgi_binary(), "--help"], capture_output=True, text=True, timeout=60).stdout
    facts["gevent"] = facts["gevent"] and "--gevent " in options
    return Facts(**facts)
