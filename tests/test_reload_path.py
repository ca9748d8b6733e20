"""The reload itself: leaving workers are quick whatever the app runs, and a
change only workers imported restarts the workers alone."""

from __future__ import annotations

import os
import re
import signal
import sysconfig
import threading
from pathlib import Path
from typing import Iterator

import pytest

from conftest import READY, RELOADED, STARTED, WORKERS_ONLY, Server, wait_until, write
from test_reload import ini

pytestmark = pytest.mark.uwsgi

STUCK_THREAD_APP = '''
import atexit, os, threading, time, helper

def loop():  # an APM agent, a queue consumer, a poller: never ends
    while True:
        time.sleep(0.1)

def note_exit():
    with open("exits.txt", "a") as exits:
        exits.write("%d\\n" % os.getpid())

atexit.register(note_exit)
started = []

def application(environ, start_response):
    if not started:
        started.append(threading.Thread(target=loop, name="poller").start())
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [helper.MESSAGE.encode()]
'''

NO_MERCY = r"taking too much time to die|NO MERCY"


def serve_from_every_worker(server: Server, body: str, workers: int = 2) -> None:
    """Ask until each worker of this generation has answered (and so started its thread)."""
    since = len(server.log())

    def every_worker() -> bool:
        assert server.get() == (200, body)
        return len(set(re.findall(r"^\[pid: (\d+)\|", server.log()[since:], re.MULTILINE))) >= workers

    wait_until(every_worker, 40, "an answer from each of %d workers" % workers, server.tail)


@pytest.mark.core
def test_a_non_daemon_thread_holds_neither_a_reload_nor_a_stop(app, make_server):
    write(app / "app.py", STUCK_THREAD_APP)
    server = make_server(ini("worker-reload-mercy = 30"))
    server.wait_for_body("one")
    serve_from_every_worker(server, "one")

    write(app / "helper.py", 'MESSAGE = "two!"\n')

    server.wait_for_body("two!")
    server.wait_for_log(r"^uwsgi_reload: worker \d left without waiting more than 0.5s "
                        r"for its non-daemon thread 'poller'$")
    server.wait_for_log(READY)
    serve_from_every_worker(server, "two!")
    server.stop()
    assert not server.alive()
    assert server.count(NO_MERCY) == 0
    assert server.count(r"non-daemon thread 'poller'$") >= 3  # the reload's workers, then the stop's


def test_the_apps_atexit_callbacks_run_when_workers_leave(app, make_server):
    write(app / "app.py", STUCK_THREAD_APP)
    server = make_server(ini())
    server.wait_for_body("one")
    pids = {int(pid) for pid in re.findall(r"spawned uWSGI worker \d \(pid: (\d+)", server.log())}

    write(app / "helper.py", 'MESSAGE = "two!"\n')
    server.wait_for_body("two!")

    wait_until(lambda: (app / "exits.txt").exists() and
               pids <= {int(line) for line in (app / "exits.txt").read_text().split()},
               40, "an atexit line from each old worker", server.tail)


def test_a_restart_of_the_workers_alone_also_runs_atexit_and_bounds_the_thread_wait(app, make_server):
    """Workers leave from a uWSGI signal handler there, where uWSGI itself
    would skip every atexit callback (it counts the worker as busy)."""
    write(app / "app.py", STUCK_THREAD_APP.replace(
        "    return [helper.MESSAGE.encode()]", "    import view\n    return [view.MESSAGE.encode()]"))
    write(app / "view.py", 'MESSAGE = "view one"\n')
    server = make_server(ini())
    server.wait_for_log(STARTED)
    serve_from_every_worker(server, "view one")
    pids = {int(pid) for pid in re.findall(r"spawned uWSGI worker \d \(pid: (\d+)", server.log())}

    write(app / "view.py", 'MESSAGE = "view two"\n')
    server.wait_for_log(WORKERS_ONLY)
    server.wait_for_body("view two")
    server.wait_for_log(r"^uwsgi_reload: worker \d left without waiting more than 0.5s "
                        r"for its non-daemon thread 'poller'$", count=2)
    wait_until(lambda: (app / "exits.txt").exists() and
               pids <= {int(line) for line in (app / "exits.txt").read_text().split()},
               40, "an atexit line from each old worker", server.tail)


LAZY_VIEW_APP = '''
import helper

def application(environ, start_response):
    import view  # imported by each worker on its first request, as Django does
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%s/%s" % (helper.MESSAGE, view.MESSAGE)).encode()]
'''


HELD_REQUEST_APP = '''
import os, time

def application(environ, start_response):
    import view
    if environ["PATH_INFO"] == "/held":
        open("holding", "w").close()
        while not os.path.exists("release"):  # the test lets it go once the restart is under way
            time.sleep(0.05)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [view.MESSAGE.encode()]
'''


def test_with_uwsgi_threads_a_restart_of_the_workers_lets_a_request_in_flight_finish(app, make_server):
    """With threads = uWSGI's own graceful exit leaves once the other cores are done."""
    write(app / "app.py", HELD_REQUEST_APP)
    write(app / "view.py", 'MESSAGE = "view one"\n')
    server = make_server(ini("threads = 2", processes=1))
    server.wait_for_log(STARTED)
    assert server.get() == (200, "view one")
    held: list = []
    request = threading.Thread(target=lambda: held.append(server.get("/held", timeout=60)))
    request.start()
    wait_until((app / "holding").exists, 40, "the held request in the app", server.tail)
    write(app / "view.py", 'MESSAGE = "view two"\n')
    server.wait_for_log(WORKERS_ONLY)
    write(app / "release", "")
    request.join(60)
    assert held == [(200, "view one")]
    server.wait_for_body("view two")


@pytest.fixture
def lazy_view_app(app: Path) -> Path:
    write(app / "app.py", LAZY_VIEW_APP)
    write(app / "view.py", 'MESSAGE = "view one"\n')
    return app


@pytest.mark.core
def test_a_worker_imported_edit_and_a_master_imported_edit_are_each_served(lazy_view_app, make_server):
    server = make_server(ini(processes=4))
    server.wait_for_body("one/view one")

    write(lazy_view_app / "view.py", 'MESSAGE = "view two"\n')
    server.wait_for_body("one/view two")
    server.wait_for_log(r"^uwsgi_reload: view\.py " + WORKERS_ONLY)
    server.wait_for_log(READY)

    write(lazy_view_app / "helper.py", 'MESSAGE = "two"\n')
    server.wait_for_body("two/view two")
    server.wait_for_log(r"^uwsgi_reload: helper\.py changed, reloading$")
    server.wait_for_log(READY, count=2)
    assert server.count(RELOADED) == 2
    assert server.count(r"^binary reloading uWSGI") == 1  # only the master-imported edit re-execs


@pytest.mark.core
@pytest.mark.parametrize("interval", ["1", "0.5"], ids=["timer", "thread"])
def test_under_lazy_apps_with_shared_import_an_edit_restarts_the_workers_alone(app, make_server, interval):
    # Under lazy-apps the master imports no file of the app; with
    # shared-import it holds uwsgi_reload, so it forks fresh workers, which
    # load the app again, and never re-execs.
    server = make_server(ini("lazy-apps = true", "shared-import = uwsgi_reload", import_in_ini=False,
                             interval=interval))
    server.wait_for_body("one")
    server.wait_for_log(STARTED)
    for number, body in enumerate(("two!", "three"), start=1):
        write(app / "helper.py", 'MESSAGE = "%s"\n' % body)
        server.wait_for_body(body)
        server.wait_for_log(READY, count=number)
    assert server.count(r"^uwsgi_reload: helper\.py " + WORKERS_ONLY) == 2
    assert server.count(r"^binary reloading uWSGI") == 0
    # Worker 1 speaks once it has loaded the app: the start line counts the
    # app's files, and "reloaded" comes when the new code can be served.
    log = server.log()
    for said in re.finditer("%s|%s" % (STARTED, READY), log, re.MULTILINE):
        before = log[:said.start()]
        worker_1 = re.findall(r"^(?:spawned uWSGI worker 1 \(pid|Respawned uWSGI worker 1 \(new pid): (\d+)",
                              before, re.MULTILINE)[-1]
        assert re.search(r"^WSGI app 0 .* pid: %s\b" % worker_1, before, re.MULTILINE), said.group()


def test_under_lazy_true_a_whole_reload_never_re_execs_and_the_new_workers_serve(app, make_server):
    # lazy = true (older than lazy-apps) answers a reload by replacing the
    # workers, with no re-exec: the master's life goes on, so the workers it
    # forks must not take themselves for ones forked during a re-exec.
    write(app / "settings.cfg", "a = 1\n")
    server = make_server(ini("lazy = true", "shared-import = uwsgi_reload",
                             "uwsgi-reload-extra-files = %dsettings.cfg", import_in_ini=False))
    server.wait_for_body("one")
    server.wait_for_log(STARTED)
    write(app / "settings.cfg", "a = 22\n")
    server.wait_for_log(r"^uwsgi_reload: settings\.cfg changed, reloading$")
    server.wait_for_log(READY)
    write(app / "helper.py", 'MESSAGE = "two!"\n')
    server.wait_for_body("two!")
    server.wait_for_log(READY, count=2)
    assert server.count(r"^binary reloading uWSGI") == 0
    assert server.count(r"was forked after the reload for") == 0


def test_workers_respawned_by_max_requests_do_not_reload_again(lazy_view_app, make_server):
    server = make_server(ini("max-requests = 20", "min-worker-lifetime = 1", processes=2))
    server.wait_for_body("one/view one")
    server.wait_for_log(STARTED)
    # A worker that has not imported view.py yet (a fresh respawn) serves the
    # edit without any reload: first each worker imports it.
    serve_from_every_worker(server, "one/view one")
    write(lazy_view_app / "view.py", 'MESSAGE = "view two"\n')
    server.wait_for_body("one/view two")
    server.wait_for_log(READY)

    respawns = server.count(r"Respawned uWSGI worker")
    wait_until(lambda: server.get() == (200, "one/view two") and server.count(r"Respawned uWSGI worker") >= respawns + 6,
               60, "six respawns by max-requests", server.tail)
    # A reload for a later edit: a respawned worker that reloaded again for
    # view.py would have logged it by then.
    write(lazy_view_app / "helper.py", 'MESSAGE = "two"\n')
    server.wait_for_body("two/view two")
    assert server.count(r"^uwsgi_reload: view\.py changed") == 1
    assert server.count(RELOADED) == 2


@pytest.mark.core
def test_under_pyuwsgi_without_binary_path_the_instance_lives_and_says_what_to_add(lazy_view_app, make_server,
                                                                                   uwsgi_facts):
    if not uwsgi_facts.pyuwsgi:
        pytest.skip("runs under pyuwsgi (the uWSGI wheel), not uWSGI %s" % uwsgi_facts.version)
    server = make_server(ini(processes=2), env={"UWSGI_BINARY_PATH": None})
    server.wait_for_body("one/view one")
    server.wait_for_log(r"^uwsgi_reload: under pyuwsgi in a virtualenv a reload re-execs the base interpreter, .* "
                        r"add binary-path = \S+/bin/python to the uWSGI options; until then only files the "
                        r"workers alone imported reload$")

    write(lazy_view_app / "view.py", 'MESSAGE = "view two"\n')
    # A worker that had not imported view.py yet may serve the edit at once;
    # wait for the restart itself, or the next edit can land in its scan.
    server.wait_for_log(WORKERS_ONLY)
    server.wait_for_body("one/view two")
    write(lazy_view_app / "helper.py", 'MESSAGE = "two"\n')
    server.wait_for_log(r"^uwsgi_reload: helper\.py changed, not reloading: under pyuwsgi")
    assert server.get() == (200, "one/view two")
    assert server.alive()


PRELOAD_APP = '''
import sys
worker_started_with_library = []

def application(environ, start_response):
    if not worker_started_with_library:
        worker_started_with_library.append("iniconfig" in sys.modules)
    import view  # the app's own file, as a Django view: imported by the worker, never preloaded
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%s/%s" % (view.MESSAGE, worker_started_with_library[0])).encode()]
'''
PRELOAD_OPTIONS = ("py-call-uwsgi-fork-hooks = true", "enable-threads = true", "uwsgi-reload-preload = true")
PRELOADED = r"^uwsgi_reload: imported \d+ library modules? the workers had imported after the fork"


def before_2_0_27(version: str) -> bool:
    """Until 2.0.27 py-call-uwsgi-fork-hooks (2.0.21+) runs no Python before-fork hook."""
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3]) < (2, 0, 27)


def needs_fork_hooks(version: str) -> None:
    if before_2_0_27(version):
        pytest.skip("uWSGI %s runs no Python in the master before a fork (2.0.27 and later)" % version)


@pytest.mark.core
def test_with_preload_new_workers_start_with_the_libraries_and_the_app_stays_the_workers(app, make_server,
                                                                                           uwsgi_facts):
    needs_fork_hooks(uwsgi_facts.version)
    write(app / "app.py", PRELOAD_APP)
    write(app / "view.py", 'import iniconfig  # a library in site-packages (from pytest) that nothing else imports\nMESSAGE = "one"\n')
    server = make_server(ini(*PRELOAD_OPTIONS, interval="1"))
    server.wait_for_body("one/False")  # the master imported neither
    server.wait_for_log(STARTED)
    # Each worker tells the instance at its next tick what it imported since the fork.
    serve_from_every_worker(server, "one/False")

    write(app / "view.py", 'import iniconfig\nMESSAGE = "two"\n')
    server.wait_for_body("two/True")
    server.wait_for_log(r"^uwsgi_reload: view\.py " + WORKERS_ONLY)
    server.wait_for_log(PRELOADED)
    server.wait_for_log(READY)
    serve_from_every_worker(server, "two/True")

    # view.py stayed the workers' own: its next edit again restarts the workers alone.
    write(app / "view.py", 'import iniconfig\nMESSAGE = "three"\n')
    server.wait_for_body("three/True")
    server.wait_for_log(r"^uwsgi_reload: view\.py " + WORKERS_ONLY, count=2)
    assert server.count(r"^binary reloading uWSGI") == 0
    assert server.count(PRELOADED) == 1  # the master has it by then


def test_preload_without_the_fork_hooks_says_what_to_add_and_serves(app, make_server, uwsgi_facts):
    needs_fork_hooks(uwsgi_facts.version)
    write(app / "app.py", PRELOAD_APP)
    write(app / "view.py", 'import iniconfig\nMESSAGE = "one"\n')
    server = make_server(ini("uwsgi-reload-preload = true", interval="1"))
    server.wait_for_body("one/False")
    server.wait_for_log(r"^uwsgi_reload: uwsgi-reload-preload = true needs py-call-uwsgi-fork-hooks = true: ")
    serve_from_every_worker(server, "one/False")
    write(app / "view.py", 'import iniconfig\nMESSAGE = "two"\n')
    server.wait_for_body("two/False")
    assert server.count(PRELOADED) == 0


SLOW_LIBRARY = '''
import os, time
import uwsgi

if uwsgi.worker_id() == 0:  # the master, importing it for the next workers
    open("master-importing", "w").close()
    time.sleep(2)
'''


@pytest.fixture
def slow_library(tmp_path: Path) -> Iterator[str]:
    """A module in site-packages, where a library is, that is slow to import in the master."""
    purelib = Path(sysconfig.get_paths()["purelib"])
    if not os.access(purelib, os.W_OK):
        pytest.skip("site-packages (%s) is not writable" % purelib)
    name = "uwsgi_reload_test_slow_%d" % os.getpid()
    path = purelib / (name + ".py")
    write(path, SLOW_LIBRARY)
    try:
        yield name
    finally:
        path.unlink()


@pytest.mark.core
def test_preload_on_a_uwsgi_before_2_0_27_says_so_and_serves(app, make_server, uwsgi_facts):
    if not before_2_0_27(uwsgi_facts.version):
        pytest.skip("uWSGI %s runs Python's before-fork hooks" % uwsgi_facts.version)
    write(app / "app.py", PRELOAD_APP)
    write(app / "view.py", 'import iniconfig\nMESSAGE = "one"\n')
    server = make_server(ini(*PRELOAD_OPTIONS, interval="1"))
    server.wait_for_body("one/False")
    server.wait_for_log(r"^uwsgi_reload: uwsgi-reload-preload = true needs uWSGI 2\.0\.27 or later, .*; "
                        r"not preloading$")
    serve_from_every_worker(server, "one/False")
    write(app / "view.py", 'import iniconfig\nMESSAGE = "two"\n')
    server.wait_for_body("two/False")
    assert server.count(PRELOADED) == 0


def test_a_stop_while_the_master_imports_for_new_workers_stops_the_instance(app, make_server, slow_library,
                                                                             uwsgi_facts):
    needs_fork_hooks(uwsgi_facts.version)
    write(app / "app.py", PRELOAD_APP)
    write(app / "view.py", 'import iniconfig, %s\nMESSAGE = "one"\n' % slow_library)
    server = make_server(ini(*PRELOAD_OPTIONS, "worker-reload-mercy = 60", interval="1"))
    server.wait_for_body("one/False")
    serve_from_every_worker(server, "one/False")

    write(app / "view.py", 'import iniconfig, %s\nMESSAGE = "two"\n' % slow_library)
    wait_until((app / "master-importing").exists, 40, "the master importing the slow library", server.tail)
    server.process.send_signal(signal.SIGINT)
    # Without holding the stop until the fork, the worker forked after it
    # never heard of it, and the master waited worker-reload-mercy for it.
    wait_until(lambda: not server.alive(), 30, "the instance to stop", server.tail)
    assert server.count(r"^goodbye to uWSGI") == 1


HINTED = (r"^uwsgi_reload: each new worker imports again the \d+ library modules this one imported after "
          r"the fork \(.*\): with py-call-uwsgi-fork-hooks = true and uwsgi-reload-preload = true the master "
          r"imports them once, before the fork$")


@pytest.mark.core
def test_without_preload_the_first_restart_of_the_workers_says_what_it_would_spare(app, make_server, uwsgi_facts):
    # Where uWSGI runs no Python before a fork (before 2.0.27, threads off)
    # the hint's two lines would do nothing: no hint there.
    hinted = 0 if before_2_0_27(uwsgi_facts.version) or not uwsgi_facts.threads else 1
    write(app / "app.py", PRELOAD_APP)
    many = "import wave, asyncio, http.server, xml.dom.minidom, unittest  # 50 and more library modules\n"
    write(app / "view.py", many + 'MESSAGE = "one"\n')
    server = make_server(ini(interval="1"))
    server.wait_for_body("one/False")
    for number, (before, after) in enumerate((("one", "two"), ("two", "three")), start=1):
        # Every worker has imported view.py (a worker that has not serves the edit without a restart).
        serve_from_every_worker(server, "%s/False" % before)
        write(app / "view.py", many + 'MESSAGE = "%s"\n' % after)
        server.wait_for_body("%s/False" % after)
        server.wait_for_log(r"^uwsgi_reload: view\.py " + WORKERS_ONLY, count=number)
        server.wait_for_log(READY, count=number)
    assert server.count(HINTED) == hinted  # once per instance


def test_no_hint_for_a_few_library_modules(lazy_view_app, make_server):
    write(lazy_view_app / "view.py", 'import wave\nMESSAGE = "view one"\n')
    server = make_server(ini(interval="1"))
    server.wait_for_body("one/view one")
    serve_from_every_worker(server, "one/view one")
    write(lazy_view_app / "view.py", 'import wave\nMESSAGE = "view two"\n')
    server.wait_for_body("one/view two")
    server.wait_for_log(r"^uwsgi_reload: view\.py " + WORKERS_ONLY)
    server.wait_for_log(READY)
    assert server.count(r"^uwsgi_reload: each new worker imports again") == 0
