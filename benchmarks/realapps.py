"""Save to served on two realistic apps: uwsgi_reload side by side with the reloaders users know.

_realapps_django.py and _realapps_flask.py write a Django 5.2 project (3 apps
with DRF viewsets, django-filter, the admin, sqlite) and a Flask 3.1 app (an app
factory, 4 blueprints, Flask-SQLAlchemy, Jinja) into a temporary folder. Each
app is then served by one contender after the other:

- uwsgi_reload under uWSGI (master, 4 workers, http-socket), interval 1 s and
  0.3 s, and at 1 s again with the app running a non-daemon thread (started
  on the first request, never ending: an APM agent, a queue consumer), and,
  on Django, with the README's tip followed: the WSGI module imports the
  libraries of the views, so a restart of the workers does not import them
  again in each worker;
- uWSGI's own ``py-autoreload = 1``;
- the framework's dev server: ``manage.py runserver`` (its StatReloader) or
  ``flask run --debug`` (werkzeug's stat reloader);
- ``gunicorn --reload -w 4`` (its polling reloader, every second in each worker).

Save to served: at a random moment 1.2-2.2 s after the previous edit was
served, an edited module is rewritten with a new token and ``/health/`` polled
every 10 ms until it answers with that token; *missed*: not served within 20 s.
The Django project has two edited modules: a view module, imported by each
worker on its first request, and ``catalog/models.py``, imported by the master.
All the while, background clients load the app's pages (a request, then 20 ms
of sleep), counting connection errors and 5xx answers. The edits of a row come
in 3 rounds (one in --quick), each with a fresh server, the contenders' order
rotated every round: the load of a shared machine varies within minutes.

Every line a server prints is stamped when it is read (``time.monotonic``, the
clock of the saves and polls). For the uWSGI rows that splits each reload into
phases: detect (save to the reloader's "changed" line), graceful stop (to
"binary reloading uWSGI", or to the first worker respawned when only the
workers restart), re-exec + import (to "spawned uWSGI worker 1"; none for a
restart of the workers alone), fork (to the last worker spawned or respawned)
and first response (to the token served). *changed to served* is the time
from the "changed" line to the new token. Once a token is served, ten more
polls follow: *stale* counts answers with an older token (old and new code
mixed). *stop* is how long the server takes to exit after SIGINT.

Servers listen on free ports of 127.0.0.1, each in its own session, and are
stopped by PID (SIGINT: uWSGI 2.0 reloads on SIGTERM and SIGHUP), leftovers of
the session SIGINTed then SIGKILLed, also on failure or Ctrl-C.

    python benchmarks/realapps.py              # 15 edits per row, about 30 minutes
    python benchmarks/realapps.py --quick      # 5 edits per row, about 10 minutes
    python benchmarks/realapps.py --apps flask --contenders uwsgi_reload-1 devserver
    python benchmarks/realapps.py --quick --before /tmp/v1   # and an earlier uwsgi_reload side by side
"""

from __future__ import annotations

import argparse
import bisect
import collections
import contextlib
import http.client
import importlib.metadata
import itertools
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import typing
from typing import IO, Callable, Dict, Iterator, List, NamedTuple, Optional, Pattern, Sequence, Tuple

from _realapps_django import write_django
from _realapps_flask import write_flask
from _realapps_gen import AGENT_THREAD, BIN, PRELOAD, App, EditTarget
from instance import percentile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from processes import free_port, stop_server  # noqa: E402  (shared with the tests)

WORKERS = 4
POLL = 0.01
SERVED_WITHIN = 20.0
EDIT_DELAY = (1.2, 2.2)
START_WITHIN = 60.0
#: Load before the first edit, so every worker has imported its views and every
#: reloader has taken its first reading of them.
WARMUP = 3.0
LOAD_PAUSE = 0.02

GENERATORS: Dict[str, Callable[[str], App]] = {"django": write_django, "flask": write_flask}

#: Every edit of a run gets its own serial, so tokens and file sizes never repeat.
SERIALS = itertools.count(1)

UWSGI_INI = """\
[uwsgi]
master = true
processes = {workers}
http-socket = 127.0.0.1:{port}
chdir = {folder}
module = {wsgi}
disable-logging = true
"""

# The markers of a uWSGI reload in its log.
BINARY_RELOADING = re.compile(r"^binary reloading uWSGI")
FIRST_WORKER = re.compile(r"^spawned uWSGI worker 1 ")
LAST_WORKER = re.compile(r"^spawned uWSGI worker %d " % WORKERS)
RESPAWNED = re.compile(r"^Respawned uWSGI worker \d+ ")
WORKERS_ONLY = re.compile(r"changed, restarting the workers")
PHASES = ("detect", "graceful", "re-exec", "fork", "first")  # explained under the phase table
#: Polls after the first new answer, to catch an old one served after it.
STALE_POLLS = 10


# -- contenders ---------------------------------------------------------------------------


class Contender(NamedTuple):
    key: str  # for --contenders
    title: str  # {devserver} becomes the app's dev server
    launch: Callable[[App, int], List[str]]  # the server's argv on that port
    detect: Pattern[str]  # the line it prints when it has seen a change
    proof: Optional[Pattern[str]]  # a line showing it runs the mechanism we mean to time
    uwsgi: bool  # its reloads print uWSGI's markers
    agent: bool = False  # the app runs a non-daemon thread
    preload: bool = False  # the app's WSGI module imports its views' libraries (apps with preloads only)

    def label(self, app: App) -> str:
        return self.title.format(devserver=app.devserver_label)


def uwsgi_launcher(options: str) -> Callable[[App, int], List[str]]:
    def launch(app: App, port: int) -> List[str]:
        ini = os.path.join(app.folder, "uwsgi.ini")
        with open(ini, "w") as out:
            out.write(UWSGI_INI.format(workers=WORKERS, port=port, folder=app.folder, wsgi=app.wsgi) + options)
        return [os.path.join(BIN, "uwsgi"), "--ini", ini]

    return launch


def launch_devserver(app: App, port: int) -> List[str]:
    program, *arguments = app.devserver
    return [os.path.join(BIN, program)] + [argument.format(port=port) for argument in arguments]


def launch_gunicorn(app: App, port: int) -> List[str]:
    # The poll engine is what --reload uses without the optional inotify module;
    # naming it keeps the row the same on machines that have that module. No
    # control socket: gunicorn would open one in the home folder, shared by all.
    return [
        os.path.join(BIN, "gunicorn"), "--reload", "--reload-engine", "poll", "--no-control-socket",
        "-w", str(WORKERS), "-b", "127.0.0.1:%d" % port, app.wsgi,
    ]


def uwsgi_reload_contender(interval: float, agent: bool = False, preload: bool = False, lazy: bool = False,
                           learned: bool = False, before: str = "") -> Contender:
    """uwsgi_reload as installed, or the one in the folder *before* (uWSGI's
    ``pythonpath`` puts it first on sys.path) to time an earlier version."""
    key = "uwsgi_reload-%g" % interval
    title = "uwsgi_reload, interval %g s" % interval
    options = "import = uwsgi_reload\nuwsgi-reload-interval = %g\n" % interval
    if agent:
        key += "-agent"
        title += ", app with a non-daemon thread"
    if preload:
        key += "-preload"
        title += ", libraries in wsgi.py"
    if lazy:
        # The workers load the app, the master holds uwsgi_reload: every
        # edit of the app restarts the workers alone.
        key += "-lazy"
        title += ", lazy-apps + shared-import"
        options = options.replace("import = ", "shared-import = ") + "lazy-apps = true\n"
    if learned:
        key += "-learned"
        title += ", uwsgi-reload-preload"
        options += "py-call-uwsgi-fork-hooks = true\nuwsgi-reload-preload = true\n"
    if before:
        key += "-before"
        title = "uwsgi_reload from %s, interval %g s" % (before, interval)
        options = "pythonpath = %s\n" % before + options
    return Contender(
        key, title, uwsgi_launcher(options),
        detect=re.compile(r"^uwsgi_reload: .* changed, (reloading|restarting the workers .*)$"),
        proof=re.compile(r"^uwsgi_reload: watching "),
        uwsgi=True,
        agent=agent,
        preload=preload,
    )


CONTENDERS = [
    uwsgi_reload_contender(1),
    uwsgi_reload_contender(0.3),
    uwsgi_reload_contender(1, agent=True),
    uwsgi_reload_contender(1, preload=True),
    uwsgi_reload_contender(1, learned=True),
    uwsgi_reload_contender(0.3, learned=True),
    uwsgi_reload_contender(1, lazy=True, learned=True),
    uwsgi_reload_contender(0.3, lazy=True, learned=True),
    Contender(
        "py-autoreload", "uWSGI py-autoreload = 1", uwsgi_launcher("py-autoreload = 1\n"),
        detect=re.compile(r"^\[uwsgi-python-reloader\] module/file .* has been modified"),
        proof=re.compile(r"^Python auto-reloader enabled"),
        uwsgi=True,
    ),
    Contender(
        "devserver", "{devserver}", launch_devserver,
        detect=re.compile(r" changed, reloading\.$|^ \* Detected change in "),  # Django | werkzeug
        # Django takes watchman and werkzeug watchdog when importable; not these.
        proof=re.compile(r"Watching for file changes with StatReloader|^ \* Restarting with stat$"),
        uwsgi=False,
    ),
    Contender(
        "gunicorn", "gunicorn --reload -w %d" % WORKERS, launch_gunicorn,
        detect=re.compile(r"Worker reloading: .* modified"),
        proof=None,  # the engine is named on its command line
        uwsgi=False,
    ),
]
BY_KEY = {contender.key: contender for contender in CONTENDERS}


# -- a server and its clients ---------------------------------------------------------------


class StampedLog:
    """A server's output, each line stamped with time.monotonic() as it is read."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: List[Tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip()))

    def nth_after(self, since: float, pattern: Pattern[str], nth: int = 1) -> Optional[Tuple[float, str]]:
        """The *nth* line at or after *since* that matches, with its stamp."""
        for stamp, line in self.lines[bisect.bisect_left(self.lines, (since,)):]:
            if pattern.search(line):
                nth -= 1
                if not nth:
                    return stamp, line
        return None

    def first_after(self, since: float, pattern: Pattern[str]) -> Optional[float]:
        """The stamp of the first line at or after *since* that matches."""
        found = self.nth_after(since, pattern)
        return None if found is None else found[0]

    def shows(self, pattern: Pattern[str]) -> bool:
        return any(pattern.search(line) for _, line in self.lines)

    def tail(self, count: int = 30) -> str:
        return "\n".join(line for _, line in self.lines[-count:])

    def wait_closed(self) -> None:
        self._thread.join(timeout=10)


#: How a request fails when the server is not there: refused, reset, timed out, cut short.
CONNECTION_FAILED = (OSError, http.client.HTTPException)


def get(port: int, path: str, timeout: float) -> Tuple[int, str]:
    """(status, body) of one request on a new connection; raises CONNECTION_FAILED."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def wait_for_token(port: int, path: str, token: str, within: float) -> Optional[float]:
    """Poll *path* until its body holds *token*: the time it did, or None."""
    deadline = time.monotonic() + within
    while (now := time.monotonic()) < deadline:
        try:
            status, body = get(port, path, timeout=deadline - now)
            if status == 200 and token in body.split():
                return time.monotonic()
        except CONNECTION_FAILED:
            pass  # down for a restart: try again
        time.sleep(POLL)
    return None


def server_environment(contender: Contender) -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the app's modules come from its folder only
    env["PYTHONUNBUFFERED"] = "1"  # each line reaches the pipe, and gets its stamp, when printed
    for name, wanted in ((AGENT_THREAD, contender.agent), (PRELOAD, contender.preload)):
        env.pop(name, None)
        if wanted:
            env[name] = "1"
    return env


class Server(NamedTuple):
    port: int
    log: StampedLog
    stops: List[float]  # seconds from SIGINT to exit, appended when it has stopped


@contextlib.contextmanager
def serving(app: App, contender: Contender, stops: List[float]) -> Iterator[Server]:
    """The app served by the contender on a free port, stopped by PID afterwards;
    how long the stop took goes to *stops*."""
    port = free_port()
    process = subprocess.Popen(
        contender.launch(app, port), cwd=app.folder, env=server_environment(contender),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    log = StampedLog(process.stdout)
    try:
        if wait_for_token(port, app.health, "ok", START_WITHIN) is None:
            raise RuntimeError(
                "%s did not serve %s within %g s; its output ends with:\n%s"
                % (contender.label(app), app.health, START_WITHIN, log.tail())
            )
        yield Server(port, log, stops)
    finally:
        stopping = time.monotonic()
        stop_server(process)
        stops.append(time.monotonic() - stopping)
        log.wait_closed()


class LoadStats:
    def __init__(self) -> None:
        self.requests = 0
        self.server_errors = 0
        self.slowest = 0.0  # of the answered requests
        #: Failed connections by exception: refused (nothing listens) or reset
        #: (accepted, then closed unanswered) tell different stories.
        self.connection_errors: typing.Counter[str] = collections.Counter()

    def record(self, status: int, duration: float) -> None:
        self.requests += 1
        self.server_errors += status >= 500
        self.slowest = max(self.slowest, duration)

    def record_failure(self, error: Exception) -> None:
        self.requests += 1
        self.connection_errors[type(error).__name__] += 1

    def add(self, other: "LoadStats") -> None:
        self.requests += other.requests
        self.server_errors += other.server_errors
        self.slowest = max(self.slowest, other.slowest)
        self.connection_errors += other.connection_errors


def load_client(port: int, paths: Sequence[str], first: int, stats: LoadStats, stop: threading.Event) -> None:
    """One client: each page in turn from the *first*, a request then a pause, until *stop*."""
    for path in itertools.islice(itertools.cycle(paths), first, None):
        if stop.is_set():
            return
        started = time.monotonic()
        try:
            status, _ = get(port, path, timeout=SERVED_WITHIN)
        except CONNECTION_FAILED as error:
            stats.record_failure(error)
        else:
            stats.record(status, time.monotonic() - started)
        stop.wait(LOAD_PAUSE)


@contextlib.contextmanager
def background_load(port: int, paths: Sequence[str], clients: int) -> Iterator[LoadStats]:
    """*clients* threads loading the app; the stats yielded are complete once the block exits."""
    total = LoadStats()
    stop = threading.Event()
    own = [LoadStats() for _ in range(clients)]
    threads = [
        # Each client starts at another page, so the pages are loaded evenly.
        threading.Thread(target=load_client, args=(port, paths, number, stats, stop), daemon=True)
        for number, stats in enumerate(own)
    ]
    for thread in threads:
        thread.start()
    try:
        yield total
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=SERVED_WITHIN + 5)
        for stats in own:
            total.add(stats)


# -- a contender's rounds ---------------------------------------------------------------------


class Edit(NamedTuple):
    target: EditTarget
    saved: float
    served: Optional[float]
    log: StampedLog  # of the server that had to serve it
    stale: int  # older tokens served after the new one


def edit_and_wait(app: App, server: Server, target: EditTarget) -> Edit:
    time.sleep(random.uniform(*EDIT_DELAY))
    serial = next(SERIALS)
    token = "edit-%d" % serial
    target.write(app.folder, token, serial)
    saved = time.monotonic()
    served = wait_for_token(server.port, app.health, token, SERVED_WITHIN)
    return Edit(target, saved, served, server.log, stale_answers(server.port, app.health, token) if served else 0)


def stale_answers(port: int, path: str, token: str) -> int:
    """Of STALE_POLLS more answers, how many lack the new *token* (old code served again)."""
    stale = 0
    for _ in range(STALE_POLLS):
        try:
            _, body = get(port, path, timeout=SERVED_WITHIN)
        except CONNECTION_FAILED:
            continue
        stale += token not in body.split()
        time.sleep(POLL)
    return stale


class Run:
    """What one contender did with one app, over all its rounds."""

    def __init__(self, contender: Contender) -> None:
        self.contender = contender
        self.edits: List[Edit] = []
        self.load = LoadStats()
        self.stops: List[float] = []

    def of(self, target: EditTarget) -> List[Edit]:
        return [edit for edit in self.edits if edit.target == target]

    def latencies(self, target: EditTarget) -> List[float]:
        return [edit.served - edit.saved for edit in self.of(target) if edit.served is not None]

    def missed(self, target: EditTarget) -> int:
        return sum(edit.served is None for edit in self.of(target))

    def detect_delays(self, target: EditTarget) -> List[float]:
        delays = []
        for edit in self.of(target):
            seen = edit.log.first_after(edit.saved, self.contender.detect)
            if seen is not None and edit.served is not None and seen <= edit.served:
                delays.append(seen - edit.saved)
        return delays

    def phases(self, target: EditTarget) -> List[List[float]]:
        """PHASES of each served edit whose reload printed every marker."""
        complete = []
        for edit in self.of(target):
            marks = self.reload_marks(edit)
            if marks is not None:
                complete.append([later - earlier for earlier, later in zip(marks, marks[1:])])
        return complete

    def reload_marks(self, edit: Edit) -> Optional[List[float]]:
        if edit.served is None:
            return None
        # The last worker may be forked after the first response; a line later
        # than the next edit's earliest moment belongs to another reload.
        limit = edit.served + EDIT_DELAY[0]
        detected = edit.log.nth_after(edit.saved, self.contender.detect)
        if detected is None:
            return None
        marks: List[Optional[float]] = [edit.saved, detected[0]]
        if WORKERS_ONLY.search(detected[1]):
            # The workers alone restart: no re-exec, the master forks each anew.
            first = edit.log.first_after(detected[0], RESPAWNED)
            last = edit.log.nth_after(detected[0], RESPAWNED, WORKERS)
            marks += [first, first, last[0] if last else None]
        else:
            for pattern in (BINARY_RELOADING, FIRST_WORKER, LAST_WORKER):
                previous = marks[-1]
                marks.append(None if previous is None else edit.log.first_after(previous, pattern))
        found = [mark for mark in marks if mark is not None and mark <= limit]
        return found + [edit.served] if len(found) == len(marks) else None

    def changed_to_served(self, target: EditTarget) -> List[float]:
        """From the reloader's "changed" line to the new token served."""
        delays = []
        for edit in self.of(target):
            seen = edit.log.first_after(edit.saved, self.contender.detect)
            if seen is not None and edit.served is not None and seen <= edit.served:
                delays.append(edit.served - seen)
        return delays

    def stale(self, target: EditTarget) -> int:
        return sum(edit.stale for edit in self.of(target))


def run_round(app: App, run: Run, trials: int, clients: int) -> None:
    """Start a server, edit each target *trials* times under load, add it all to *run*."""
    contender = run.contender
    with serving(app, contender, run.stops) as server:
        with background_load(server.port, app.load_paths, clients) as load:
            time.sleep(WARMUP)
            if contender.proof and not server.log.shows(contender.proof):
                raise RuntimeError(
                    "%s does not run the reloader meant here; its output ends with:\n%s"
                    % (contender.label(app), server.log.tail())
                )
            run.edits += [edit_and_wait(app, server, target) for _ in range(trials) for target in app.targets]
    run.load.add(load)


def split(trials: int, rounds: int) -> List[int]:
    """*trials* spread over *rounds* as evenly as can be: 15, 3 -> [5, 5, 5]; 5, 3 -> [2, 2, 1]."""
    return [trials // rounds + (number < trials % rounds) for number in range(rounds) if trials > number]


# -- tables -----------------------------------------------------------------------------------


class Summary(NamedTuple):
    p50: float
    p95: float
    low: float
    high: float


def summarize(values: List[float]) -> Optional[Summary]:
    if not values:
        return None
    return Summary(statistics.median(values), percentile(values, 0.95), min(values), max(values))


def seconds(value: Optional[float]) -> str:
    return "-" if value is None else "%.2f" % value


def row(label: str, cells: Sequence[str]) -> str:
    return "%-56s" % label + "".join(" %9s" % cell for cell in cells)


def latency_row(app: App, run: Run, target: EditTarget, reference: Optional[Summary]) -> str:
    stats = summarize(run.latencies(target))
    detect = summarize(run.detect_delays(target))
    after_detect = summarize(run.changed_to_served(target))
    cells = [seconds(value) for value in stats] if stats else ["-"] * len(Summary._fields)
    cells.append(str(run.missed(target)))
    if stats and reference:
        cells += ["%.2f×" % (stats.p50 / reference.p50), "%.2f×" % (stats.p95 / reference.p95)]
    else:
        cells += ["-", "-"]
    cells.append(seconds(detect.p50) if detect else "-")
    cells.append(seconds(after_detect.p50) if after_detect else "-")
    cells.append(str(run.stale(target)))
    return row(run.contender.label(app), cells)


def latency_table(app: App, runs: List[Run], target: EditTarget) -> List[str]:
    devserver = next((run for run in runs if run.contender.key == "devserver"), None)
    reference = summarize(devserver.latencies(target)) if devserver else None
    header = ("p50 s", "p95 s", "min s", "max s", "missed", "p50/dev", "p95/dev", "detect", "chg>srv", "stale")
    return [
        "edited: %s (imported by %s)" % (target.path, target.imported_by),
        row("contender", header),
        *(latency_row(app, run, target, reference) for run in runs),
    ]


def load_table(app: App, runs: List[Run], clients: int) -> List[str]:
    lines = [
        "Background load during the edits: %d clients, each a request then %d ms of sleep"
        % (clients, LOAD_PAUSE * 1000),
        row("contender", ("requests", "conn err", "5xx", "slowest s", "stop s")) + "  connection errors",
    ]
    for run in runs:
        load = run.load
        stop = seconds(statistics.median(run.stops)) if run.stops else "-"
        cells = (load.requests, sum(load.connection_errors.values()), load.server_errors, seconds(load.slowest), stop)
        line = row(run.contender.label(app), [str(cell) for cell in cells])
        kinds = ", ".join("%s %d" % kind for kind in load.connection_errors.most_common())
        lines.append(line + "  " + kinds if kinds else line)
    return lines


def phase_row(app: App, run: Run, target: EditTarget) -> str:
    reloads = run.phases(target)
    if not reloads:
        return row(run.contender.label(app), ["-"] * (len(PHASES) + 1) + ["0"])
    medians = [statistics.median(phase) for phase in zip(*reloads)]
    cells = [seconds(median) for median in medians] + [seconds(sum(medians)), str(len(reloads))]
    return row(run.contender.label(app), cells)


def phase_table(app: App, runs: List[Run]) -> List[str]:
    lines = ["Reload phases of the uWSGI rows: p50 of each phase, in s; n: reloads that printed every marker"]
    for target in app.targets:
        lines += ["edited: %s" % target.path, row("contender", PHASES + ("sum", "n"))]
        lines += [phase_row(app, run, target) for run in runs if run.contender.uwsgi]
    lines += [
        "detect: save -> the reloader's 'changed' line; graceful stop: -> 'binary reloading uWSGI'",
        "(workers alone: -> the first 'Respawned uWSGI worker'); re-exec + import: -> 'spawned uWSGI",
        "worker 1' (workers alone: none); fork: -> the last worker spawned or respawned;",
        "first response: -> the new token served.",
    ]
    return lines


def print_app_tables(app: App, runs: List[Run], trials: int, clients: int) -> None:
    lines = ["", "== %s: save to served, %d edits per row, %d background clients" % (app.title, trials, clients)]
    for target in app.targets:
        lines += latency_table(app, runs, target) + [""]
    lines += load_table(app, runs, clients) + [""]
    lines += phase_table(app, runs)
    print("\n".join(lines), flush=True)


# -- main -------------------------------------------------------------------------------------


def load_average() -> str:
    """Other work on the machine slows every contender: the figures say how much there was."""
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def versions() -> str:
    names = ["Django", "djangorestframework", "django-filter", "Flask", "Flask-SQLAlchemy",
             "SQLAlchemy", "Werkzeug", "uWSGI", "gunicorn", "uwsgi_reload"]
    found = []
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append("%s %s" % (name, importlib.metadata.version(name)))
    return ", ".join(found)


def commit() -> str:
    """The commit of this checkout, "-dirty" if changed: the figures are "before" or "after" some change."""
    done = subprocess.run(
        ["git", "-C", os.path.dirname(os.path.abspath(__file__)), "describe", "--always", "--dirty"],
        capture_output=True, text=True,
    )
    return done.stdout.strip() or "unknown"


def benchmark_app(name: str, contenders: List[Contender], trials: int, rounds: int, clients: int) -> None:
    """The edits of each contender in rounds, the order rotated every round: the
    load of a shared machine changes within minutes, and should weigh on every
    contender alike."""
    with tempfile.TemporaryDirectory(prefix="realapps-%s-" % name) as folder:
        app = GENERATORS[name](folder)
        runs = [Run(contender) for contender in contenders if app.preloads or not contender.preload]
        for number, count in enumerate(split(trials, rounds)):
            shift = number % len(runs)
            for run in runs[shift:] + runs[:shift]:
                print("  %s, round %d: %s ..." % (name, number + 1, run.contender.label(app)), flush=True)
                run_round(app, run, count, clients)
        print_app_tables(app, runs, trials, clients)


def stop_on_sigterm(signum: int, frame: object) -> None:
    """A SIGTERM (a timeout, a CI job cancelled) unwinds like Ctrl-C: every server is stopped."""
    raise SystemExit(128 + signum)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 edits per row, in one round")
    parser.add_argument("--trials", type=int, default=15, help="edits per row (default 15)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds the edits of a row are split into")
    parser.add_argument("--apps", nargs="+", choices=list(GENERATORS), default=list(GENERATORS))
    parser.add_argument("--contenders", nargs="+", choices=list(BY_KEY), default=list(BY_KEY))
    parser.add_argument("--clients", type=int, default=4, help="background clients (0: no load)")
    parser.add_argument("--before", metavar="FOLDER", default="",
                        help="also time the uwsgi_reload package in FOLDER (e.g. an earlier version's "
                             "checkout) at interval 1 s, as the first row")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    trials, rounds = (5, 1) if args.quick else (args.trials, args.rounds)
    contenders = [BY_KEY[key] for key in args.contenders]
    if args.before:
        contenders.insert(0, uwsgi_reload_contender(1, before=os.path.abspath(args.before)))
    started = time.monotonic()
    print("Real apps, Python %s, %s CPUs, commit %s, %s"
          % (sys.version.split()[0], os.cpu_count(), commit(), load_average()))
    print(versions(), flush=True)
    for name in args.apps:
        benchmark_app(name, contenders, trials, rounds, args.clients)
    print("\ntook %.1f minutes; %s" % ((time.monotonic() - started) / 60, load_average()))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted; every server was stopped")
