"""The contract against a real uWSGI: an edit is served, once, whatever the setup."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time

import pytest

from conftest import READY, RELOADED, STARTED, WORKERS_ONLY, wait_until, write
from processes import free_port

pytestmark = pytest.mark.uwsgi

INI = """
[uwsgi]
master = true
processes = {processes}
http-socket = 127.0.0.1:{port}
wsgi-file = app.py
uwsgi-reload-interval = {interval}
"""


def ini(*lines: str, processes: int = 2, import_in_ini: bool = True, interval: str = "0.5") -> str:
    text = INI.replace("{processes}", str(processes)).replace("{interval}", interval)
    if import_in_ini:
        text += "import = uwsgi_reload\n"
    return text + "".join(line + "\n" for line in lines)


@pytest.fixture(params=["1", "0.5"], ids=["timer", "thread"])
def interval(request: pytest.FixtureRequest) -> str:
    """Whole seconds tick on the uWSGI timer; fractions from a thread in each worker."""
    return request.param


def two_edits_two_reloads(app, server) -> None:
    """Edit helper.py twice; each edit is served and reloads exactly once.

    The second edit is made only after the first reload has ended, so a
    duplicate watcher or a reload loop would have shown in the count.
    """
    server.wait_for_log(STARTED)
    for number, body in enumerate(("two!", "three"), start=1):
        write(app / "helper.py", 'MESSAGE = "%s"\n' % body)
        server.wait_for_body(body)
        server.wait_for_log(READY, count=number)
    assert server.count(RELOADED) == 2
    assert server.count(STARTED) == 1


TIMER_WORDS = r"every 1s by a uWSGI timer in each worker"
THREAD_WORDS = r"every 0.5s by a thread in each worker \(uWSGI timers take whole seconds\)"


@pytest.mark.core
def test_edit_is_served_and_logged_with_the_file_name(app, make_server, interval, uwsgi_facts):
    server = make_server(ini(interval=interval))
    server.wait_for_body("one")
    # Without Python threads (uWSGI before 2.0.27, Debian's) the timer serves, in whole seconds.
    thread = interval == "0.5" and uwsgi_facts.threads
    # The two workers scan in turns where a thread can keep or set up each turn.
    turns = ", in turns: a worker every %s$" % (r"0\.25s" if thread else r"0\.5s") if uwsgi_facts.threads else "$"
    server.wait_for_log(r"^uwsgi_reload: watching \d+ files, checked " + (THREAD_WORDS if thread else TIMER_WORDS)
                        + turns)
    write(app / "helper.py", 'MESSAGE = "two!"\n')
    server.wait_for_body("two!")
    server.wait_for_log(r"^uwsgi_reload: helper\.py changed, reloading$")


def test_import_in_app_code_reloads_too(app, make_server):
    write(app / "app.py", "import uwsgi_reload\n" + (app / "app.py").read_text())
    server = make_server(ini(import_in_ini=False))
    server.wait_for_body("one")
    write(app / "helper.py", 'MESSAGE = "two!"\n')
    server.wait_for_body("two!")
    assert server.count(r"^uwsgi_reload: helper\.py changed, reloading$") == 1


@pytest.mark.core
def test_ini_import_and_code_import_make_one_watcher(app, make_server, interval):
    write(app / "app.py", "import uwsgi_reload\n" + (app / "app.py").read_text())
    server = make_server(ini(interval=interval))
    server.wait_for_body("one")
    two_edits_two_reloads(app, server)


LAZY_APP = '''
import uwsgi

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    if uwsgi.worker_id() == 3:
        import lazy_view  # only this worker ever imports it, after the fork
        return [b"3:" + lazy_view.MESSAGE.encode()]
    return [b"other"]
'''


@pytest.mark.core
def test_module_imported_lazily_in_one_of_four_workers_reloads(tmp_path, make_server, interval):
    write(tmp_path / "app.py", LAZY_APP)
    write(tmp_path / "lazy_view.py", 'MESSAGE = "one"\n')
    server = make_server(ini(processes=4, interval=interval))
    server.wait_for_body("3:one")
    write(tmp_path / "lazy_view.py", 'MESSAGE = "two!"\n')
    # Only the workers imported it: they alone are replaced.
    server.wait_for_log(r"^uwsgi_reload: lazy_view\.py " + WORKERS_ONLY)
    server.wait_for_body("3:two!")
    assert server.count(RELOADED) == 1


TICKS_APP = '''
import sys, time, uwsgi
import uwsgi_reload

reloader = sys.modules["uwsgi_reload._reloader"].Reloader
scan = reloader.tick

def noted_tick(self):
    with open("ticks.txt", "a") as ticks:
        life = [worker["respawn_count"] for worker in uwsgi.workers() if worker["id"] == uwsgi.worker_id()]
        ticks.write("%d %d %.4f\\n" % (uwsgi.worker_id(), life[0], time.monotonic()))
    scan(self)

reloader.tick = noted_tick

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d" % uwsgi.worker_id()]
'''


def ticks_per_worker(path) -> "dict[int, list[float]]":
    """When each worker scanned, from the noting app: {worker: [monotonic times]}, for its latest life."""
    ticks: "dict[int, list[float]]" = {}
    lives: "dict[int, int]" = {}
    for line in path.read_text().splitlines():
        worker, life, moment = line.split()
        if int(life) != lives.setdefault(int(worker), int(life)):
            lives[int(worker)] = int(life)
            ticks[int(worker)] = []
        ticks.setdefault(int(worker), []).append(float(moment))
    return ticks


@pytest.mark.core
def test_each_worker_scans_once_per_interval_in_turns_also_after_respawns(tmp_path, make_server, interval,
                                                                           uwsgi_facts):
    write(tmp_path / "app.py", TICKS_APP)
    server = make_server(ini("max-requests = 3", "min-worker-lifetime = 1", processes=4, interval=interval))
    period = float(interval) if uwsgi_facts.threads else 1.0
    # Respawns first (max-requests): a respawned worker must add no timer.
    wait_until(lambda: server.get()[0] == 200 and server.count(r"Respawned uWSGI worker") >= 8, 60,
               "eight respawns by max-requests", server.tail)
    since = time.monotonic()
    wait_until(lambda: all(len([t for t in moments if t > since + period]) >= 6
                           for moments in ticks_per_worker(tmp_path / "ticks.txt").values())
               and len(ticks_per_worker(tmp_path / "ticks.txt")) == 4,
               60, "six ticks of each of the 4 workers", server.tail)
    ticks = {worker: [t for t in moments if t > since + period][:6]
             for worker, moments in ticks_per_worker(tmp_path / "ticks.txt").items()}
    for worker, moments in ticks.items():
        # Once per interval: 5 intervals between 6 ticks (a second timer
        # would make it 2.5).
        assert 4 * period < moments[-1] - moments[0] < 6 * period, (worker, moments)
    if uwsgi_facts.threads:
        # In turns: worker k a quarter interval after worker k-1. Each pair
        # is apart by at least a quarter of a turn, whatever the machine's jitter.
        phases = {worker: (moments[-1] - ticks[1][-1]) % period for worker, moments in ticks.items()}
        for first, second in itertools.combinations(sorted(phases), 2):
            apart = abs(phases[first] - phases[second])
            assert min(apart, period - apart) > period / 16, phases


HOLDING_APP = '''
import os, time, uwsgi
import helper

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    if environ["PATH_INFO"] == "/hold":
        if uwsgi.worker_id() != 1:
            return [b"not worker 1"]
        open("held", "w").close()
        while not os.path.exists("release"):  # a long request, ended by the test
            time.sleep(0.05)
        return [b"released"]
    return [helper.MESSAGE.encode()]
'''


@pytest.mark.core
def test_an_edit_to_a_file_the_master_imported_is_seen_while_worker_1_is_busy(app, make_server, interval):
    write(app / "app.py", HOLDING_APP)
    server = make_server(ini(interval=interval))
    server.wait_for_body("one")
    answers = []

    def hold_worker_1() -> None:
        while not (app / "held").exists() and not answers:
            status, body = server.get("/hold", timeout=120)
            if body != "not worker 1":
                answers.append((status, body))

    holder = threading.Thread(target=hold_worker_1)
    holder.start()
    try:
        wait_until((app / "held").exists, 60, "worker 1 in a long request", server.tail)
        write(app / "helper.py", 'MESSAGE = "two!"\n')
        # Worker 1 runs no tick until its request ends: the other worker
        # scans the files it inherited from the master too.
        server.wait_for_log(r"^uwsgi_reload: helper\.py changed, reloading$")
    finally:
        write(app / "release", "")
        holder.join(timeout=120)
    server.wait_for_body("two!")
    assert answers == [(200, "released")]
    assert server.count(RELOADED) == 1


def needs_threads(facts) -> None:
    if not facts.threads:
        pytest.skip("lazy-apps needs Python threads, off in uWSGI %s: test_lazy_apps_without_threads_says_so" % facts.version)


@pytest.mark.core
def test_lazy_apps_with_respawns_still_reload_once_per_edit(app, make_server, uwsgi_facts):
    needs_threads(uwsgi_facts)
    # uWSGI recycles a worker only once it has lived min-worker-lifetime (10 s).
    # forkbomb-delay = 0: more respawns a second than workers make uWSGI's
    # master sleep 2 s; a reload asked for meanwhile met a worker respawned
    # after it began, still loading its app, which then waited for
    # worker-reload-mercy (60 s): a uWSGI race the test is not about.
    server = make_server(ini("lazy-apps = true", "max-requests = 5", "min-worker-lifetime = 1", "forkbomb-delay = 0",
                             processes=4))
    server.wait_for_body("one")
    for edit, body in enumerate(["two!", "three", "four!!"], start=1):
        deadline = time.monotonic() + 2.5  # respawns: a watcher per respawn would pile up
        while time.monotonic() < deadline:
            assert server.get()[0] == 200
        write(app / "helper.py", 'MESSAGE = "%s"\n' % body)
        server.wait_for_log(RELOADED, count=edit)
        # A worker respawned after the edit loads the new code itself, so the
        # body alone does not show that the reload has happened.
        server.wait_for_log(r"^binary reloading uWSGI", count=edit)
        server.wait_for_body(body)
        server.wait_for_log(READY, count=edit)
    for _ in range(150):
        assert server.get()[0] == 200
    assert server.count(RELOADED) == 3
    assert server.count(r"^binary reloading uWSGI") == 3
    assert server.count(r"The work of process \d+ is done") >= 10
    # One start line, and one end line per reload, whatever the respawns did.
    assert (server.count(STARTED), server.count(READY)) == (1, 3)
    assert server.count(r"^uwsgi_reload: under lazy-apps, import = uwsgi_reload runs in the workers alone, "
                        r"so every reload re-execs the master") == 1


def test_extra_files_by_glob_two_values_in_one_key_and_a_repeated_key(app, make_server):
    (app / "templates").mkdir()
    write(app / "templates" / "index.html", "<p>one</p>\n")
    write(app / "settings.cfg", "a = 1\n")
    write(app / "local.env", "A=1\n")
    server = make_server(
        ini(
            "uwsgi-reload-extra-files = %dtemplates/*.html %dsettings.cfg",
            "uwsgi-reload-extra-files = %dlocal.env",
        )
    )
    server.wait_for_log(STARTED)
    edits = [
        (app / "templates" / "index.html", "<p>two</p>\n", r"templates/index\.html"),
        (app / "templates" / "new.html", "<p>new</p>\n", r"templates/new\.html"),
        (app / "settings.cfg", "a = 22\n", r"settings\.cfg"),
        (app / "local.env", "A=333\n", r"local\.env"),
    ]
    for number, (path, text, name) in enumerate(edits, start=1):
        write(path, text)
        server.wait_for_log(r"^uwsgi_reload: %s changed, reloading$" % name)
        server.wait_for_log(READY, count=number)
    assert server.count(RELOADED) == len(edits)


@pytest.mark.core
def test_syntax_error_keeps_serving_and_the_fix_reloads(app, make_server, interval):
    server = make_server(ini(interval=interval))
    server.wait_for_body("one")
    write(app / "helper.py", 'MESSAGE = "two"\nbroken = (\n')
    server.wait_for_log(RELOADED)
    server.wait_for_log(r"SyntaxError")
    server.wait_for_status(500)
    assert server.alive()
    write(app / "helper.py", 'MESSAGE = "fixed"\n')
    server.wait_for_body("fixed")


@pytest.mark.core
@pytest.mark.parametrize(
    "broken_file, broken_text",
    [
        ("app.py", "import helper\ndef application(environ, start_response:\n"),
        ("helper.py", "MESSAGE = undefined_name\n"),
        ("helper.py", "import module_that_does_not_exist\n"),
    ],
    ids=["wsgi-file-syntax-error", "name-error-in-module", "import-error-in-module"],
)
def test_server_started_broken_serves_once_fixed(app, make_server, interval, broken_file, broken_text):
    good_text = (app / broken_file).read_text()
    write(app / broken_file, broken_text)
    server = make_server(ini(interval=interval))
    server.wait_for_log(r"no python application found|unable to load app|callable not found")
    server.wait_for_status(500)
    fixed = good_text.replace('"one"', '"fixed"') if broken_file == "helper.py" else good_text + "\n"
    write(app / broken_file, fixed)
    server.wait_for_body("fixed" if broken_file == "helper.py" else "one")
    server.wait_for_log(r"^uwsgi_reload: %s changed, reloading$" % broken_file.replace(".", r"\."))


@pytest.mark.core
def test_burst_of_thirty_files_gives_one_reload(tmp_path, make_server, interval):
    modules = ["part%d" % number for number in range(30)]
    write(tmp_path / "app.py", "import %s\n" % ", ".join(modules) + '''
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(sum(m.VALUE for m in (%s))).encode()]
''' % ", ".join(modules))
    for name in modules:
        write(tmp_path / (name + ".py"), "VALUE = 1\n")
    write(tmp_path / "canary.txt", "0\n")
    server = make_server(ini("uwsgi-reload-extra-files = canary.txt", interval=interval))
    server.wait_for_body("30")
    server.wait_for_log(STARTED)
    for name in modules:  # like a `git checkout`: ~1 s of writes
        write(tmp_path / (name + ".py"), "VALUE = 10\n")
        time.sleep(1 / 30)
    server.wait_for_body("300")
    server.wait_for_log(READY)
    # Had the burst been split, its second reload would come before this one.
    write(tmp_path / "canary.txt", "11\n")
    server.wait_for_log(r"^uwsgi_reload: canary\.txt changed, reloading$")
    assert server.count(RELOADED) == 2
    assert server.count(r"^uwsgi_reload: part0\.py, part1\.py.* changed, reloading$") == 1


def test_file_replaced_by_rename_is_a_change(app, make_server):
    server = make_server(ini())
    server.wait_for_body("one")
    write(app / "helper.py.new", 'MESSAGE = "two!"\n')
    os.replace(app / "helper.py.new", app / "helper.py")
    server.wait_for_body("two!")


def test_mtime_moved_backwards_is_a_change(app, make_server):
    server = make_server(ini())
    server.wait_for_body("one")
    helper = app / "helper.py"
    before = helper.stat().st_mtime
    write(helper, 'MESSAGE = "two"\n')  # same size as before
    os.utime(helper, (before - 3600, before - 3600))
    server.wait_for_body("two")


def test_deleted_file_is_a_change(app, make_server):
    write(app / "feature.flag", "on\n")
    server = make_server(ini("uwsgi-reload-extra-files = feature.flag"))
    server.wait_for_log(STARTED)
    (app / "feature.flag").unlink()
    server.wait_for_log(r"^uwsgi_reload: feature\.flag changed, reloading$")


def test_reload_false_turns_the_watcher_off(app, make_server):
    server = make_server(ini("uwsgi-reload = false"))
    server.wait_for_body("one")
    server.wait_for_log(r"^uwsgi_reload: off \(uwsgi-reload = false\)")
    write(app / "helper.py", 'MESSAGE = "two!"\n')
    # Proving an absence takes a wait: six intervals with nothing watching.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert server.get() == (200, "one")
        time.sleep(0.1)
    assert server.count(r"^uwsgi_reload: (watching|.*changed)") == 0


@pytest.mark.core
def test_without_master_one_line_says_how_to_fix_and_the_app_serves(app, make_server):
    server = make_server(ini().replace("master = true", "master = false"))
    server.wait_for_body("one")
    server.wait_for_log(r"^uwsgi_reload: inactive: reloading needs the master process; add master = true")
    assert server.count(r"^uwsgi_reload: ") == 1


def test_bad_option_value_is_named_and_the_default_used(app, make_server):
    server = make_server(ini().replace("uwsgi-reload-interval = 0.5", "uwsgi-reload-interval = soon"))
    server.wait_for_body("one")
    server.wait_for_log(r"^uwsgi_reload: uwsgi-reload-interval = 'soon' is not a number of seconds; using 3$")
    server.wait_for_log(r"^uwsgi_reload: watching \d+ files, checked every 3s")
    write(app / "helper.py", 'MESSAGE = "two!"\n')
    server.wait_for_body("two!")


def test_interval_set_on_the_command_line(app, make_server):
    server = make_server(ini().replace("uwsgi-reload-interval = 0.5\n", ""), "--set-placeholder", "uwsgi-reload-interval=2")
    server.wait_for_log(r"^uwsgi_reload: watching \d+ files, checked every 2s")


@pytest.mark.core
def test_a_fractional_interval_without_threads_ticks_on_the_timer_and_says_so(app, make_server, uwsgi_facts):
    if uwsgi_facts.threads:
        pytest.skip("Python threads are on in uWSGI %s" % uwsgi_facts.version)
    server = make_server(ini(interval="0.5"))
    server.wait_for_log(r"^uwsgi_reload: uwsgi-reload-interval = 0.5: Python threads are off \(enable-threads = true\), "
                        r"so a uWSGI timer scans, in whole seconds: every 1s$")
    server.wait_for_body("one")
    write(app / "helper.py", 'MESSAGE = "two!"\n')
    server.wait_for_body("two!")


@pytest.mark.core
def test_lazy_apps_without_threads_says_so(app, make_server, uwsgi_facts):
    if uwsgi_facts.threads:
        pytest.skip("Python threads are on in uWSGI %s" % uwsgi_facts.version)
    server = make_server(ini("lazy-apps = true"))
    server.wait_for_body("one")
    server.wait_for_log(r"^uwsgi_reload: inactive: under lazy-apps each worker scans from a thread, and Python "
                        r"threads are off in this uWSGI; add enable-threads = true$")


def test_edit_between_import_and_first_scan_is_not_lost(app, make_server):
    # Another process (as an editor would) changes helper.py after the app
    # imported it and before any scan could run: a poller whose baseline is its
    # first scan would serve the old code until the next edit.
    write(app / "edit.sh", """echo 'MESSAGE = "edited during load"' > helper.py\n""")
    write(app / "app.py", "import helper, subprocess\n"
          "if helper.MESSAGE == 'one':\n"
          "    subprocess.run(['sh', 'edit.sh'], check=True)\n" + (app / "app.py").read_text())
    server = make_server(ini())
    server.wait_for_log(r"^uwsgi_reload: helper\.py changed, reloading$")
    server.wait_for_body("edited during load")


def test_http_router_and_need_app_are_named_at_start(app, make_server):
    server = make_server(ini("http = 127.0.0.1:%d" % free_port(), "need-app = true"))
    server.wait_for_body("one")
    server.wait_for_log(r"^uwsgi_reload: the http router \(http =\) .* use http-socket = instead")
    server.wait_for_log(r"^uwsgi_reload: need-app is on: an app that fails to load stops the instance")
    assert server.count(r"^uwsgi_reload: the http router") == 1


def test_app_rewriting_a_watched_file_at_every_start_does_not_loop(app, make_server, interval):
    write(app / "app.py", "import pathlib, time\n"
          "pathlib.Path('state.dat').write_text(str(time.time_ns()))\n" + (app / "app.py").read_text())
    server = make_server(ini("uwsgi-reload-extra-files = %d*.dat", interval=interval))
    rewritten = r"^uwsgi_reload: state\.dat is written by the app itself"
    server.wait_for_log(rewritten)
    server.wait_for_body("one")
    two_edits_two_reloads(app, server)
    assert server.count(rewritten) == 1


HOOKS_APP = '''
from importlib.machinery import SourceFileLoader

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(hasattr(SourceFileLoader.path_stats, "_uwsgi_reload_watcher")).encode()]
'''


@pytest.mark.parametrize("enabled", ["true", "false"])
def test_reload_false_installs_no_hook_into_the_server(tmp_path, make_server, enabled):
    write(tmp_path / "app.py", HOOKS_APP)
    server = make_server(ini("uwsgi-reload = %s" % enabled))
    server.wait_for_body("True" if enabled == "true" else "False")


CHILD_SIGNAL_APP = '''
import signal, subprocess

MARK = "%s"

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    default = signal.getsignal(signal.SIGCHLD) is signal.SIG_DFL
    return [("%%s %%s %%d" %% (MARK, default, subprocess.run(["true"]).returncode)).encode()]
'''


def catches_sigchld(pid: int) -> bool:
    with open("/proc/%d/status" % pid) as status:
        caught = next(line.split()[1] for line in status if line.startswith("SigCgt:"))
    return bool(int(caught, 16) >> (signal.SIGCHLD - 1) & 1)


@pytest.mark.parametrize("enabled", [True, False])
def test_master_wakes_on_each_worker_exit_and_workers_keep_the_default(tmp_path, make_server, enabled):
    """A SIGCHLD handler in the master (and only there) is what makes a reload
    take about 0.1 s instead of uWSGI's 1.1 s; benchmarks/ measures it."""
    write(tmp_path / "app.py", CHILD_SIGNAL_APP % "a")
    server = make_server(ini("uwsgi-reload = %s" % str(enabled).lower()))
    server.wait_for_body("a True 0")
    assert catches_sigchld(server.pid) is enabled
    if enabled:
        write(tmp_path / "app.py", CHILD_SIGNAL_APP % "b")
        server.wait_for_body("b True 0")  # the re-executed master imported us again
        assert catches_sigchld(server.pid)
