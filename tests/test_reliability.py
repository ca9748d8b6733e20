"""Nothing a user's code, files, options or load can do breaks the server or loses a change."""

from __future__ import annotations

import http.client
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import READY, RELOADED, STARTED, TIMEOUT, Server, wait_until, write
from processes import session_pids
from test_reload import ini, two_edits_two_reloads

pytestmark = pytest.mark.uwsgi


# -- broken apps ----------------------------------------------------------

BROKEN_WHILE_RUNNING = {
    "app-factory-raises": (
        "factory.py",
        "def create():\n    raise RuntimeError('factory failed')\n",
        "def create():\n    import helper\n    return helper.MESSAGE\n",
    ),
    "package-init-syntax-error": ("pkg/__init__.py", "VALUE = (\n", "VALUE = 'fixed'\n"),
}

FACTORY_APP = '''
import factory, pkg

MESSAGE = factory.create()

def application(environ, start_response):
    if environ["PATH_INFO"] == "/lazy":
        import lazy_view
        body = lazy_view.MESSAGE
    else:
        body = "%s/%s" % (MESSAGE, pkg.VALUE)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
'''


@pytest.fixture
def factory_app(app: Path) -> Path:
    write(app / "app.py", FACTORY_APP)
    write(app / "factory.py", BROKEN_WHILE_RUNNING["app-factory-raises"][2])
    (app / "pkg").mkdir()
    write(app / "pkg" / "__init__.py", "VALUE = 'ok'\n")
    write(app / "lazy_view.py", "MESSAGE = 'lazy one'\n")
    return app


@pytest.mark.parametrize("case", sorted(BROKEN_WHILE_RUNNING))
def test_broken_while_running_stays_up_and_the_fix_is_served(factory_app, make_server, case):
    path, broken, fixed = BROKEN_WHILE_RUNNING[case]
    server = make_server(ini())
    server.wait_for_body("one/ok")
    write(factory_app / path, broken)
    server.wait_for_status(500)
    assert server.alive()
    write(factory_app / path, fixed)
    server.wait_for_body("one/fixed" if case.startswith("package") else "one/ok")
    server.wait_for_log(RELOADED, count=2)


def test_broken_lazily_imported_module_is_retried_and_its_fix_served(factory_app, make_server):
    server = make_server(ini(processes=4))
    server.wait_for_body("lazy one", path="/lazy")
    write(factory_app / "lazy_view.py", "MESSAGE = (\n")
    # An exception escaping a WSGI app makes uWSGI close the connection
    # without an answer (it logs a 500): the client sees no 200.
    wait_until(lambda: server.get("/lazy")[0] != 200, 40, "/lazy to fail", server.tail)
    assert server.alive()
    write(factory_app / "lazy_view.py", "MESSAGE = 'lazy fixed'\n")
    server.wait_for_body("lazy fixed", path="/lazy")
    assert server.get("/")[0] == 200


# -- no reload loops --------------------------------------------------------

REWRITERS = {
    "generated-module": (
        "import gen\n",
        "import pathlib, time\npathlib.Path('gen.py').write_text('STAMP = %d\\n' % time.time_ns())\n",
        "gen.py",
        "",
    ),
    "log-next-to-the-code": (
        "import logging\nhandler = logging.FileHandler('app.log')\n"
        "logging.getLogger('app').addHandler(handler)\nlogging.getLogger('app').error('started')\n",
        "",
        "app.log",
        "uwsgi-reload-extra-files = %d*.log",
    ),
    "sqlite-file-by-glob": (
        "import sqlite3\ndb = sqlite3.connect('data.sqlite3')\n"
        "db.execute('create table if not exists hits (at)')\ndb.execute('insert into hits values (1)')\n"
        "db.commit()\n",
        "",
        "data.sqlite3",
        "uwsgi-reload-extra-files = %d*.sqlite3",
    ),
}


@pytest.mark.parametrize("case", sorted(REWRITERS))
def test_app_rewriting_its_own_files_never_loops(app, make_server, case):
    before, after, name, option = REWRITERS[case]
    write(app / "gen.py", "STAMP = 0\n")
    write(app / "app.py", before + "import helper\n" + after + (app / "app.py").read_text().replace("import helper\n", ""))
    server = make_server(ini(option))
    server.wait_for_body("one")
    two_edits_two_reloads(app, server)
    assert server.count(r"^uwsgi_reload: .*changed, reloading$") == server.count(r"^uwsgi_reload: helper\.py changed")


# -- hostile configuration and file names ----------------------------------


def test_hostile_option_values_are_named_and_the_server_serves(app, make_server):
    huge = app / "huge"
    for group in range(12):
        folder = huge / str(group)
        folder.mkdir(parents=True)
        for number in range(1000):
            (folder / ("%d.txt" % number)).touch()
    server = make_server(
        ini().replace("uwsgi-reload-interval = 0.5\n", "")
        + "uwsgi-reload-interval = -4\n"
        "uwsgi-reload = perhaps\n"
        "uwsgi-reload-extra-files =\n"
        "uwsgi-reload-extra-files = %dhuge/**\n"
        "uwsgi-reload-ignore =\n"
    )
    server.wait_for_body("one")
    server.wait_for_log(r"^uwsgi_reload: uwsgi-reload-interval = '-4' is below the minimum of 0.1 seconds; using 0.1$")
    server.wait_for_log(r"^uwsgi_reload: uwsgi-reload = 'perhaps' is not true or false; using true$")
    server.wait_for_log(r"^uwsgi_reload: .*huge/\*\* matches more than 10000 files; only the first 10000 are watched$")
    server.wait_for_log(r"^uwsgi_reload: 100\d\d files are many: a scan took \d+\.\d ms; uwsgi-reload-ignore can")
    write(app / "helper.py", 'MESSAGE = "two!"\n')
    server.wait_for_body("two!")


def test_non_utf8_option_value_is_named_safely(app, make_server):
    server = make_server(ini(), start=False)
    server.ini_path.write_bytes(server.ini_path.read_bytes().replace(b"= 0.5", b"= 0.\xff5"))
    server.start()
    server.wait_for_body("one")
    server.wait_for_log(r"^uwsgi_reload: uwsgi-reload-interval = '0\.\\udcff5' is not a number of seconds; using 3$")


def test_file_names_with_terminal_escapes_are_logged_escaped(app, make_server):
    hostile = app / "evil\x1b[2J\x07.txt"
    write(hostile, "x\n")
    server = make_server(ini("uwsgi-reload-extra-files = %devil*"))
    server.wait_for_log(STARTED)
    write(hostile, "print('never run')\nopen('ran', 'w')\n")
    server.wait_for_log(r"^uwsgi_reload: evil\\x1b\[2J\\x07\.txt changed, reloading$")
    assert "\x1b" not in server.log() and "\x07" not in server.log()
    assert not (app / "ran").exists()


def test_production_looking_setup_gets_a_line(app, make_server):
    server = make_server(ini("harakiri = 30").replace("127.0.0.1:{port}", "0.0.0.0:{port}"))
    server.wait_for_body("one")
    server.wait_for_log(
        r"^uwsgi_reload: active on a server listening on 0\.0\.0\.0:\d+ with harakiri: "
        r"this looks like production; set uwsgi-reload = false there$"
    )


# -- load and soak ------------------------------------------------------------


class Load:
    """Several loopback clients, each a fresh connection per request, until stopped."""

    def __init__(self, port: int, clients: int = 6) -> None:
        self.port = port
        self.stop = threading.Event()
        self.sent = 0
        self.failures: List[str] = []
        self.worst = 0.0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client) for _ in range(clients)]

    def client(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                connection.request("GET", "/")
                response = connection.getresponse()
                response.read()
                failure = "HTTP %d" % response.status if response.status >= 500 else None
            except (OSError, http.client.HTTPException) as error:
                failure = repr(error)
            finally:
                connection.close()
            with self.lock:
                self.sent += 1
                self.worst = max(self.worst, time.monotonic() - started)
                if failure:
                    self.failures.append(failure)

    def __enter__(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=90)


def twenty_edits_under_load(app: Path, server: Server, port: int) -> Load:
    server.wait_for_body("edit 0")
    with Load(port) as load:
        for number in range(1, 21):
            write(app / "helper.py", 'MESSAGE = "edit %d"\n' % number)
            server.wait_for_log(RELOADED, count=number, timeout=60)
            server.wait_for_body("edit %d" % number)
    return load


TOO_FAST = r"^worker respawning too fast"
#: The line of a worker that uWSGI forked after a whole reload began.
FORKED_DURING_RELOAD = (r"^uwsgi_reload: worker \d+ was forked after the reload for .+ began, "
                        r"and uWSGI would wait for it for ever: it leaves at once$")

CRASHING_APP = '''
import os
import helper

def application(environ, start_response):
    if environ["PATH_INFO"] == "/crash":
        os._exit(1)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [helper.MESSAGE.encode()]
'''


@pytest.mark.parametrize("lazy", [False, True], ids=["preforked", "lazy-apps"])
def test_an_edit_while_workers_crash_too_fast_is_served(app, make_server, uwsgi_facts, lazy):
    if lazy and not uwsgi_facts.threads:
        pytest.skip("lazy-apps needs Python threads, off in uWSGI %s" % uwsgi_facts.version)
    # More deaths in a second than workers make uWSGI's master sleep before
    # it respawns the last one. The reload's SIGHUP cuts that sleep short
    # and the master then forks the worker anyway, after it told the others
    # to leave: nobody tells the new one, and the master waited for it for
    # ever. The sleep is made long enough for the edit to be seen in it.
    write(app / "app.py", CRASHING_APP)
    server = make_server(ini("forkbomb-delay = 5", *(["lazy-apps = true"] if lazy else []), interval="0.25"))
    server.wait_for_log(STARTED)
    # uWSGI counts the deaths that follow the last respawn within about a
    # second: crash one worker at a time until it sleeps, never two at once
    # (a worker must be left to see the edit).
    for crashes in range(1, 20):
        assert server.get("/crash")[0] == 0
        wait_until(lambda: server.count(TOO_FAST) or server.count(r"^Respawned uWSGI worker") >= crashes,
                   TIMEOUT, "the master to respawn the worker, or to sleep first", server.tail)
        if server.count(TOO_FAST):
            break
    server.wait_for_log(TOO_FAST)
    write(app / "helper.py", 'MESSAGE = "two!"\n')
    server.wait_for_body("two!")
    server.wait_for_log(READY)
    assert server.count(RELOADED) == 1
    assert server.count(FORKED_DURING_RELOAD) == 1


@pytest.mark.slow
def test_reload_under_load_loses_no_request(app, make_server, capsys):
    write(app / "helper.py", 'MESSAGE = "edit 0"\n')
    server = make_server(ini(processes=4).replace("uwsgi-reload-interval = 0.5", "uwsgi-reload-interval = 0.25"))
    load = twenty_edits_under_load(app, server, server.port)
    with capsys.disabled():
        print("\n[figures] http-socket, 4 workers, 6 clients, 20 edits: %d requests, %d failed, "
              "worst response %.2f s" % (load.sent, len(load.failures), load.worst))
    assert load.failures == []
    assert load.sent > 200


PID_APP = '''
import os

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
'''


def holds_sighup(pid: int) -> bool:
    with open("/proc/%d/status" % pid) as status:
        blocked = int(re.search(r"^SigBlk:\s+([0-9a-f]+)$", status.read(), re.M).group(1), 16)
    return bool(blocked & (1 << (signal.SIGHUP - 1)))


@pytest.mark.parametrize(
    "options, held",
    [("uwsgi-reload-interval = 1", True), ("uwsgi-reload-interval = 0.5", True), ("threads = 2", False)],
    ids=["timer", "thread", "uwsgi-threads"],
)
def test_a_reload_from_elsewhere_still_reloads(app, make_server, options, held):
    """Workers hold a reload's SIGHUP until they are between two requests
    (a reset otherwise, see _exit.py); a reload nobody of ours asked for,
    like ``kill -HUP`` of the master, still goes through."""
    write(app / "app.py", PID_APP)
    server = make_server(ini(options, processes=2))
    server.wait_for_log(STARTED)
    before = {int(server.get()[1]) for _ in range(20)}
    assert all(holds_sighup(pid) == held for pid in before)
    os.kill(server.pid, signal.SIGHUP)
    server.wait_for_log(r"^\.\.\.gracefully killing workers\.\.\.$")
    wait_until(lambda: int(server.get()[1]) not in before, 40, "a worker of the reloaded instance", server.tail)
    assert server.count(r"NO MERCY") == 0


@pytest.mark.slow
def test_reload_through_the_http_router_is_reported(app, make_server, capsys):
    write(app / "helper.py", 'MESSAGE = "edit 0"\n')
    # What a router user runs: only `http =`, the router in front of the workers.
    server = make_server(ini(processes=4).replace("http-socket =", "http ="))
    server.wait_for_log(r"^uwsgi_reload: the http router \(http =\) is a separate process that drops")
    load = twenty_edits_under_load(app, server, server.port)
    with capsys.disabled():
        print("\n[figures] http router, 4 workers, 6 clients, 20 edits: %d requests, %d failed (%s), "
              "worst response %.2f s" % (load.sent, len(load.failures), ", ".join(sorted(set(load.failures)))[:200], load.worst))


STATUS_APP = '''
import threading, uwsgi, helper

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    if environ["PATH_INFO"] == "/status":
        signals = sum(1 for number in range(256) if uwsgi.signal_registered(number))
        return [("%d %d" % (signals, threading.active_count())).encode()]
    return [helper.MESSAGE.encode()]
'''


def snapshot(server: Server) -> Dict[str, int]:
    status = server.get("/status")[1].split()
    with open("/proc/%d/status" % server.pid) as proc_status:
        rss = int(re.search(r"VmRSS:\s+(\d+)", proc_status.read()).group(1))
    return {
        "signals": int(status[0]),
        "threads per worker": int(status[1]),
        "master fds": len(os.listdir("/proc/%d/fd" % server.pid)),
        "master rss kB": rss,
        "processes": len(session_pids(server.pid)),
    }


@pytest.mark.slow
@pytest.mark.timeout(900)  # 200 reloads of two instances side by side: about 5.5 minutes
def test_two_hundred_reloads_leave_nothing_behind(tmp_path, make_server, capsys):
    servers = {}
    for mode, options in {"default": [], "lazy-apps": ["lazy-apps = true", "max-requests = 5", "min-worker-lifetime = 1"]}.items():
        folder = tmp_path / mode
        folder.mkdir()
        write(folder / "app.py", STATUS_APP)
        write(folder / "helper.py", 'MESSAGE = "0"\n')
        servers[mode] = (folder, make_server(ini(*options, processes=2).replace("0.5", "0.1"), folder=folder))
    for _, server in servers.values():
        server.wait_for_body("0")
        server.wait_for_log(STARTED)
    after: Dict[str, Dict[int, Dict[str, int]]] = {mode: {} for mode in servers}
    for number in range(1, 201):
        # Both instances reload side by side; each wait is for its own edit.
        for folder, _ in servers.values():
            write(folder / "helper.py", 'MESSAGE = "%d"\n' % number)
        for mode, (folder, server) in servers.items():
            server.wait_for_log(RELOADED, count=number, timeout=60)
            server.wait_for_body(str(number))
            # A worker respawned by max-requests imports the edit and may
            # serve it before the reload is done; an edit made before the new
            # generation has imported this one would then need no reload.
            server.wait_for_log(READY, count=number, timeout=60)
            if number in (5, 200):
                for _ in range(20):  # respawns in lazy-apps mode
                    server.get("/status")
                after[mode][number] = snapshot(server)
    with capsys.disabled():
        for mode in servers:
            print("\n[figures] %s, after reload 5: %s; after reload 200: %s" % (mode, after[mode][5], after[mode][200]))
    for mode, (_, server) in servers.items():
        fifth, last = after[mode][5], after[mode][200]
        for key in ("signals", "threads per worker", "master fds", "processes"):
            assert last[key] == fifth[key], (mode, key, fifth, last)
        assert last["master rss kB"] <= fifth["master rss kB"] * 1.1, (mode, fifth, last)
        assert server.count(RELOADED) == 200


def test_strict_mode_gets_a_line_and_options_work_as_placeholders(app, make_server):
    server = make_server(
        ini(import_in_ini=True).replace("uwsgi-reload-interval = 0.5\n", "")
        + "strict = true\nset-placeholder = uwsgi-reload-interval=0.5\n"
    )
    server.wait_for_body("one")
    server.wait_for_log(r"^uwsgi_reload: strict = true: uWSGI refuses plain uwsgi-reload-\* keys")
    server.wait_for_log(r"^uwsgi_reload: watching \d+ files, checked every 0.5s")
