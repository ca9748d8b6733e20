"""A real uWSGI instance: idle CPU of each reloader, and how long a save takes to be served.

The app imports 3000 generated one-line modules and answers with ``value.VALUE``.
Every instance is a master with ``http-socket`` on 127.0.0.1, started in its own
session and stopped by PID (SIGINT to the master; SIGTERM and SIGHUP reload
uWSGI 2.0), leftovers of the session SIGINTed then SIGKILLed.

Idle CPU: the CPU clock (clock_getcpuclockid) of every process of the session,
summed over ``--seconds`` after a warm-up, with no request.

Save to serve: at a random moment (1.2-2.2 s after the last reload, so past
every reloader's first interval), value.py is rewritten and the app polled
every 20 ms until it serves the new value. The bare reload rows time the same
thing for a reload we trigger ourselves (SIGHUP to the master, or touching a
``touch-reload`` file, which the master checks about once a second), to
separate detection from reloading.

Second save: once a first save is served, wait 0.3 s and save again; a success
is the second value served within 10 s.

    python benchmarks/instance.py            # about 24 minutes
    python benchmarks/instance.py --quick    # about 8 minutes
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import http.client
import itertools
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional

from scan_cost import write_package

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from processes import free_port, session_pids, stop_server  # noqa: E402  (shared with the tests)

MODULES = 3000
POLL = 0.02
HERE = os.path.dirname(os.path.abspath(__file__))

APP = """\
import imports  # the {modules} generated modules
import value


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [value.VALUE.encode()]
"""

CLASSIC_TIMER = """\
# The classic recipe: a uWSGI timer calling the old code_changed() poller.
import uwsgi
from uwsgidecorators import timer

import _classic


@timer({interval})
def reload_on_change(signum):
    if _classic.code_changed():
        uwsgi.reload()
"""

FLOOR_THREAD = """\
# The idle floor of a Python poller that sees every app file's change within one
# interval: worker 1 stats each app file (outside the stdlib and site-packages)
# once per tick, in import order like uwsgi_reload; nothing compared, nothing else.
# (Importing uwsgi_reload here would start its watcher too.)
import os
import sys
import sysconfig
import threading
import time

import uwsgi
from uwsgidecorators import postfork


def stat_forever():
    paths = sysconfig.get_paths()
    library = tuple(os.path.join(paths[key], "") for key in ("stdlib", "platstdlib", "purelib", "platlib"))
    found = dict.fromkeys(getattr(module, "__file__", None) for module in list(sys.modules.values()))
    paths = [
        path for path in found
        if isinstance(path, str) and path.endswith(".py") and not path.startswith(library)
    ]
    while True:
        time.sleep({interval})
        for path in paths:
            os.stat(path)


@postfork
def start():
    if uwsgi.worker_id() == 1:
        threading.Thread(target=stat_forever, daemon=True).start()
"""

INI = """\
[uwsgi]
master = true
processes = {workers}
http-socket = 127.0.0.1:{port}
pythonpath = {folder}
wsgi-file = app.py
disable-logging = true
"""


class Setup(NamedTuple):
    name: str
    ini: str  # lines added to INI; {interval} is filled in
    interval: float = 1


NONE = Setup("no reloader", "")
FLOOR = Setup("floor: os.stat app files, worker 1", "import = floor_thread\n")
PY_AUTORELOAD = Setup("py-autoreload", "py-autoreload = {interval:g}\n")
CLASSIC = Setup("classic @timer + code_changed()", "import = classic_timer\n")
UWSGI_RELOAD = Setup("uwsgi_reload", "import = uwsgi_reload\nuwsgi-reload-interval = {interval:g}\n")
TOUCH_RELOAD = Setup("bare reload: touch-reload", "touch-reload = {folder}/trigger\n")


# -- the app and the server ----------------------------------------------------------


def make_app(folder: str) -> None:
    names = write_package(folder, "gen", MODULES)
    with open(os.path.join(folder, "imports.py"), "w") as imports:
        imports.writelines("import %s\n" % name for name in names)
    with open(os.path.join(folder, "app.py"), "w") as app:
        app.write(APP.format(modules=MODULES))
    shutil.copy(os.path.join(HERE, "_classic.py"), folder)
    save_value(folder, "start", 0)
    open(os.path.join(folder, "trigger"), "w").close()  # for touch-reload
    # Compile once, like an app that has run before: a reload then costs what it costs users.
    subprocess.run([sys.executable, "-m", "compileall", "-q", folder], check=True)


def save_value(folder: str, token: str, serial: int) -> None:
    """Rewrite value.py. The padding makes every version's size unique, so a stale
    .pyc (validated by whole-second mtime and size) is never taken for it."""
    with open(os.path.join(folder, "value.py"), "w") as value:
        value.write("VALUE = %r\n# %s\n" % (token, "." * serial))


class Server:
    def __init__(self, folder: str, setup: Setup, workers: int) -> None:
        self.folder = folder
        self.port = free_port()
        ini = INI + setup.ini
        with open(os.path.join(folder, "uwsgi.ini"), "w") as out:
            out.write(ini.format(workers=workers, port=self.port, folder=folder, interval=setup.interval))
        with open(os.path.join(folder, "classic_timer.py"), "w") as out:
            out.write(CLASSIC_TIMER.format(interval=max(1, round(setup.interval))))
        with open(os.path.join(folder, "floor_thread.py"), "w") as out:
            out.write(FLOOR_THREAD.format(interval=setup.interval))
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        with open(os.path.join(folder, "uwsgi.log"), "ab") as log:
            self.process = subprocess.Popen(
                [os.path.join(os.path.dirname(sys.executable), "uwsgi"), "--ini", "uwsgi.ini"],
                cwd=folder, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, env=env,
            )

    def get(self) -> Optional[str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            connection.request("GET", "/")
            response = connection.getresponse()
            body = response.read().decode()
            return body if response.status == 200 else None
        except (OSError, http.client.HTTPException):
            return None
        finally:
            connection.close()

    def time_until_served(self, token: str, since: float, timeout: float) -> Optional[float]:
        while time.monotonic() - since < timeout:
            if self.get() == token:
                return time.monotonic() - since
            time.sleep(POLL)
        return None

    def stop(self) -> None:
        stop_server(self.process)


class Running(NamedTuple):
    server: Server
    serial: Iterator[int]


@contextlib.contextmanager
def running(setup: Setup, workers: int) -> Iterator[Running]:
    """A started instance of the app in a fresh folder, stopped afterwards."""
    folder = tempfile.mkdtemp(prefix="instance-")
    server = None
    try:
        make_app(folder)
        server = Server(folder, setup, workers)
        if server.time_until_served("start", time.monotonic(), 60) is None:
            raise RuntimeError("uWSGI did not serve the app; see %s/uwsgi.log" % folder)
        yield Running(server, itertools.count(1))
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


# -- idle CPU --------------------------------------------------------------------------


_LIBC = ctypes.CDLL(None, use_errno=True)


def process_cpu_ns(pid: int) -> Optional[int]:
    """CPU time of every thread of *pid*, in ns, or None once it is gone.

    The process CPU clock is exact, where /proc/<pid>/stat counts 10 ms ticks:
    an idle instance spends about ten of those a minute.
    """
    clock = ctypes.c_int()
    if _LIBC.clock_getcpuclockid(pid, ctypes.byref(clock)) != 0:
        return None
    try:
        return time.clock_gettime_ns(clock.value)
    except OSError:
        return None


def session_cpu(session: int) -> Dict[int, int]:
    """CPU ns of each live process of the session."""
    used = {}
    for pid in session_pids(session):
        ns = process_cpu_ns(pid)
        if ns is not None:
            used[pid] = ns
    return used


def idle_cpu(setup: Setup, workers: int, seconds: float, warmup: float) -> float:
    """CPU milliseconds per second of the idle instance."""
    with running(setup, workers) as instance:
        time.sleep(warmup)
        before = session_cpu(instance.server.process.pid)
        start = time.monotonic()
        time.sleep(seconds)
        after = session_cpu(instance.server.process.pid)
        elapsed = time.monotonic() - start
    used = sum(after[pid] - before.get(pid, 0) for pid in after)
    return used / 1e6 / elapsed


def print_idle_table(seconds: float) -> None:
    """One row per instance, printed as soon as it is measured."""
    warmup = 8.0
    runs = [(NONE, 4), (PY_AUTORELOAD._replace(interval=3), 4), (CLASSIC._replace(interval=3), 4)]
    runs += [(FLOOR._replace(interval=3), 4)]
    runs += [(UWSGI_RELOAD._replace(interval=3), workers) for workers in (1, 2, 4, 8)]
    print("Idle CPU, %g s after %g s of warm-up, %d modules, no requests" % (seconds, warmup, MODULES))
    print("%-36s %8s %10s %15s" % ("setup (interval 3 s)", "workers", "CPU ms/s", "×py-autoreload"), flush=True)
    anchor = None
    for setup, workers in runs:
        cost = idle_cpu(setup, workers, seconds, warmup)
        if setup.name == PY_AUTORELOAD.name:
            anchor = cost
        ratio = "%.2f×" % (cost / anchor) if anchor else "-"
        print("%-36s %8d %10.2f %15s" % (setup.name, workers, cost, ratio), flush=True)


# -- save to serve -----------------------------------------------------------------------


def next_token(instance: Running) -> "tuple[str, int]":
    serial = next(instance.serial)
    return "v%d" % serial, serial


def save_and_time(instance: Running, trigger: Callable[[], None], timeout: float) -> Optional[float]:
    token, serial = next_token(instance)
    save_value(instance.server.folder, token, serial)
    start = time.monotonic()
    trigger()
    return instance.server.time_until_served(token, start, timeout)


def second_save_served(instance: Running) -> bool:
    if save_and_time(instance, lambda: None, 15) is None:
        return False
    time.sleep(0.3)
    return save_and_time(instance, lambda: None, 10) is not None


def touch(path: str) -> None:
    with open(path, "a"):
        os.utime(path)


class Latency(NamedTuple):
    name: str
    times: List[Optional[float]]
    second_saves: Optional[int]


def latency(setup: Setup, trials: int, second_trials: int, bare: Optional[str] = None) -> Latency:
    with running(setup, 4) as instance:
        server = instance.server
        triggers = {
            None: lambda: None,
            "sighup": lambda: os.kill(server.process.pid, signal.SIGHUP),
            "touch": lambda: touch(os.path.join(server.folder, "trigger")),
        }
        times = []
        for _ in range(trials):
            time.sleep(random.uniform(1.2, 2.2))
            times.append(save_and_time(instance, triggers[bare], 15))
        successes = None
        if bare is None:
            successes = 0
            for _ in range(second_trials):
                time.sleep(random.uniform(1.2, 2.2))
                successes += second_save_served(instance)
        name = setup.name
        if bare == "sighup":
            name = "bare reload: SIGHUP to master"
            if setup is not NONE:
                name += ", uwsgi_reload imported"
        if setup is not NONE and bare is None:
            name += " (interval %g s)" % setup.interval
    return Latency(name, times, successes)


def percentile(values: List[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def latency_table(trials: int, second_trials: int) -> str:
    results = [
        latency(NONE, trials, 0, bare="sighup"),
        # An interval no trial reaches: only our SIGHUP reloads.
        latency(UWSGI_RELOAD._replace(interval=3600), trials, 0, bare="sighup"),
        latency(TOUCH_RELOAD, trials, 0, bare="touch"),
        latency(PY_AUTORELOAD, trials, second_trials),
        latency(CLASSIC, trials, second_trials),
        latency(UWSGI_RELOAD, trials, second_trials),
        latency(UWSGI_RELOAD._replace(interval=0.3), trials, second_trials),
    ]
    bare = statistics.median([t for t in results[0].times if t is not None])
    lines = [
        "Save to served, %d trials each, 4 workers, %d modules; second save: %d tries" % (trials, MODULES, second_trials),
        "%-56s %7s %7s %8s %7s %12s" % ("setup", "p50 s", "p95 s", "p50/bare", "missed", "second save"),
    ]
    for result in results:
        served = [t for t in result.times if t is not None]
        second = "-" if result.second_saves is None else "%d/%d" % (result.second_saves, second_trials)
        lines.append(
            "%-56s %7.2f %7.2f %7.1f× %7d %12s"
            % (result.name, statistics.median(served), percentile(served, 0.95),
               statistics.median(served) / bare, len(result.times) - len(served), second)
        )
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 s idle, 5 trials, 3 second saves")
    parser.add_argument("--seconds", type=float, default=60.0, help="idle CPU measuring time")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--second-trials", type=int, default=10)
    parser.add_argument("--only", choices=("idle", "latency"))
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.trials, args.second_trials = 10.0, 5, 3
    print("uWSGI instances, Python %s, %d CPUs" % (sys.version.split()[0], os.cpu_count()), flush=True)
    if args.only != "latency":
        print_idle_table(args.seconds)
    if args.only != "idle":
        print(latency_table(args.trials, args.second_trials), flush=True)


if __name__ == "__main__":
    main()
