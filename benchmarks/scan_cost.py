"""CPU per scan: uwsgi_reload's Watcher against the os.stat floor and other stat pollers.

Each import set runs in its own child process, so ``sys.modules`` holds exactly
that set: N generated one-line modules (plus what the pollers themselves
import), or a fresh ``django-admin startproject`` with its urls and the admin.
Every contender scans that one process's modules; the floor and hupper get the
same precomputed list of files (hupper is fed its paths by its worker process).

Rounds are interleaved (the contender order rotates each round); within a round
each contender runs ``--reps`` scans and keeps their median; the table shows the
min/median/max of those medians over ``--rounds`` rounds, in CPU µs
(time.process_time, garbage collector off like timeit), and the median over the
rounds of the ratio to that round's floor. The "after one new import" rows come
after all steady rounds (each import grows every poller's set by one file):
one import, then one timed scan, per round.

    python benchmarks/scan_cost.py            # about 20 seconds
    python benchmarks/scan_cost.py --quick    # about 5 seconds
"""

from __future__ import annotations

import argparse
import gc
import importlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

SETS = ("500", "3000", "10000", "django")
PER_PACKAGE = 100
#: Rows "after one new import": each imports one spare module per round.
AFTER_IMPORT_ROWS = 2
#: Library files are visited one slice of this many per scan, like uwsgi_reload's.
SWEEP = 10

Scan = Callable[[], object]


class Contender(NamedTuple):
    name: str
    scan: Scan
    files: int
    after_import: bool = False


# -- import sets ---------------------------------------------------------------


def write_package(root: str, name: str, count: int) -> List[str]:
    """Package *name* under *root* with *count* one-line modules; their dotted names."""
    names = []
    for index in range(count):
        sub = os.path.join(root, name, "p%d" % (index // PER_PACKAGE))
        if index % PER_PACKAGE == 0:
            os.makedirs(sub)
            open(os.path.join(sub, "__init__.py"), "w").close()
        with open(os.path.join(sub, "m%d.py" % index), "w") as module:
            module.write("VALUE = %d\n" % index)
        names.append("%s.p%d.m%d" % (name, index // PER_PACKAGE, index))
    open(os.path.join(root, name, "__init__.py"), "w").close()
    return names


def import_generated(root: str, count: int) -> None:
    for name in write_package(root, "gen", count):
        importlib.import_module(name)


def import_django_project(root: str) -> None:
    """What a fresh Django project has in sys.modules once it serves the admin."""
    subprocess.run([sys.executable, "-m", "django", "startproject", "site_", root], check=True)
    os.environ["DJANGO_SETTINGS_MODULE"] = "site_.settings"
    import django

    django.setup()
    from django.core.wsgi import get_wsgi_application
    from django.urls import get_resolver

    get_wsgi_application()
    importlib.import_module("site_.urls")
    importlib.import_module("django.contrib.admin.sites")
    get_resolver().url_patterns


def import_pollers() -> None:
    """Import every contender first, so that all of them watch the same modules."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "inactive outside uWSGI"
        importlib.import_module("uwsgi_reload")
    for name in ("_classic", "_sketch", "django.utils.autoreload", "hupper.polling", "werkzeug._reloader"):
        importlib.import_module(name)


def module_files() -> List[str]:
    """The source file of every module in sys.modules, as uwsgi_reload maps them."""
    from uwsgi_reload._scanner import module_source

    found = {module_source(module) for module in list(sys.modules.values())}
    return sorted(path for path in found if path and os.path.isfile(path))


# -- contenders ------------------------------------------------------------------


def floor(paths: List[str]) -> Scan:
    def scan() -> None:
        for p in paths:
            os.stat(p)

    return scan


def uwsgi_reload_watcher() -> Tuple[Scan, int]:
    from uwsgi_reload._hooks import record_imports
    from uwsgi_reload._scanner import Watcher

    watcher = Watcher()
    record_imports(watcher)  # as in production: each import gives its baseline
    watcher.scan()
    return watcher.scan, stats_per_scan(Watcher)


def stats_per_scan(watcher_class: Callable[..., Any]) -> int:
    """os.stat calls of one scan, averaged over a sweep of the rarely edited files."""
    calls = [0]

    def counting_stat(path: str) -> os.stat_result:
        calls[0] += 1
        return os.stat(path)

    counted = watcher_class(stat=counting_stat)
    counted.scan()
    calls[0] = 0
    for _ in range(SWEEP):
        counted.scan()
    return round(calls[0] / SWEEP)


def django_stat_reloader() -> Tuple[Scan, int]:
    from django.utils.autoreload import StatReloader

    reloader = StatReloader()
    mtimes: Dict[object, float] = {}
    changed: List[object] = []

    def tick() -> None:
        # StatReloader.tick()'s loop body, without the sleep and the debug logs.
        for filepath, mtime in reloader.snapshot_files():
            old_time = mtimes.get(filepath)
            mtimes[filepath] = mtime
            if old_time is None:
                continue
            if mtime > old_time:
                changed.append(filepath)  # notify_file_changed() would exit

    tick()
    return tick, len(mtimes)


def werkzeug_stat_loop() -> Tuple[Scan, int]:
    from werkzeug._reloader import StatReloaderLoop

    loop = StatReloaderLoop()
    loop.mtimes = {}  # what __enter__ sets up before its first run_step()
    loop.trigger_reload = lambda filename: None  # it would exit the process
    loop.run_step()
    return loop.run_step, len(loop.mtimes)


def hupper_polling(paths: List[str]) -> Scan:
    from hupper.polling import PollingFileMonitor

    monitor = PollingFileMonitor(callback=print)
    for path in paths:
        monitor.add_path(path)

    def check() -> None:
        # One iteration of PollingFileMonitor.run() without its sleep.
        with monitor.lock:
            current = list(monitor.paths)
        monitor.check_reload(current)

    check()
    return check


def classic_code_changed() -> Tuple[Scan, int]:
    import _classic

    _classic.code_changed()
    return _classic.code_changed, _classic.watched_count()


def sketch(paths: List[str], library_slices: int) -> Tuple[Scan, int]:
    """The recommended loop (see _sketch.py); files = stat() calls per scan."""
    from _sketch import SketchScanner

    scanner = SketchScanner(paths, library_slices)
    per_scan = len(scanner.app.paths) + round(sum(len(g.paths) for g in scanner.library) / library_slices)
    return scanner.scan, per_scan


def contenders(paths: List[str]) -> List[Contender]:
    watcher_scan, watcher_files = uwsgi_reload_watcher()
    django_tick, django_files = django_stat_reloader()
    werkzeug_step, werkzeug_files = werkzeug_stat_loop()
    classic, classic_files = classic_code_changed()
    return [
        Contender("floor: os.stat loop", floor(paths), len(paths)),
        Contender("uwsgi_reload Watcher.scan", watcher_scan, watcher_files),
        Contender("  after one new import", watcher_scan, watcher_files, True),
        Contender("django StatReloader tick", django_tick, django_files),
        Contender("  after one new import", django_tick, django_files, True),
        Contender("werkzeug StatReloaderLoop step", werkzeug_step, werkzeug_files),
        Contender("hupper PollingFileMonitor pass", hupper_polling(paths), len(paths)),
        Contender("classic code_changed()", classic, classic_files),
        Contender("sketch: ctime hot path in C", *sketch(paths, 1)),
        Contender("sketch: + library 1/%d per scan" % SWEEP, *sketch(paths, SWEEP)),
    ]


# -- measuring -------------------------------------------------------------------


def fresh_imports(names: List[str]) -> Iterator[None]:
    """Each next() imports one module nobody has seen yet."""
    for name in names:
        importlib.import_module(name)
        yield


def steady_scan(contender: Contender, reps: int) -> float:
    """Median CPU seconds of one scan over *reps* scans, every file hot."""
    contender.scan()  # take in what was imported since its last scan
    times = []
    for _ in range(reps):
        start = time.process_time()
        contender.scan()
        times.append(time.process_time() - start)
    return statistics.median(times)


def scan_after_import(contender: Contender, fresh: Iterator[None]) -> float:
    next(fresh)
    start = time.process_time()
    contender.scan()
    return time.process_time() - start


def rotated(indexes: List[int], round_: int) -> List[int]:
    shift = round_ % len(indexes)
    return indexes[shift:] + indexes[:shift]


def measure_set(which: str, rounds: int, reps: int) -> List[dict]:
    root = tempfile.mkdtemp(prefix="scan_cost-")
    sys.path.insert(0, root)
    import_pollers()
    if which == "django":
        import_django_project(root)
    else:
        import_generated(root, int(which))
    # Written before the pollers start: werkzeug's walk of sys.path counts them.
    spare = write_package(root, "fresh", AFTER_IMPORT_ROWS * rounds)
    field = contenders(module_files())
    steady = [index for index, c in enumerate(field) if not c.after_import]
    after_import = [index for index, c in enumerate(field) if c.after_import]
    assert len(after_import) == AFTER_IMPORT_ROWS
    fresh = fresh_imports(spare)
    results: Dict[int, List[float]] = {index: [] for index in range(len(field))}
    gc.collect()
    gc.disable()
    # Steady rounds first: each new import adds a file to every poller's set.
    for round_ in range(rounds):
        for index in rotated(steady, round_):
            results[index].append(steady_scan(field[index], reps))
    # Then one scan per round after an import: the set grows by two files a round.
    for round_ in range(rounds):
        for index in rotated(after_import, round_):
            results[index].append(scan_after_import(field[index], fresh))
    gc.enable()
    return [
        {"contender": c.name, "set": which, "files": c.files, "us": [t * 1e6 for t in results[i]]}
        for i, c in enumerate(field)
    ]


# -- reporting -------------------------------------------------------------------


def table(rows: List[dict]) -> str:
    lines = [
        "%-32s %7s %6s %9s %9s %9s %7s" % ("contender", "set", "files", "min µs", "median", "max", "×floor"),
    ]
    floor_rounds: Dict[str, List[float]] = {}
    for row in rows:
        if row["contender"].startswith("floor"):
            floor_rounds[row["set"]] = row["us"]
            lines.append("-" * len(lines[0]))
        # Rounds are interleaved: the ratio of each round cancels the machine's drift.
        ratio = statistics.median(us / floor for us, floor in zip(row["us"], floor_rounds[row["set"]]))
        lines.append(
            "%-32s %7s %6d %9.0f %9.0f %9.0f %6.2f×"
            % (row["contender"], row["set"], row["files"], min(row["us"]), statistics.median(row["us"]),
               max(row["us"]), ratio)
        )
    return "\n".join(lines)


def run_set_in_child(which: str, rounds: int, reps: int) -> List[dict]:
    here = os.path.dirname(os.path.abspath(__file__))
    output = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", which, "--rounds", str(rounds), "--reps", str(reps)],
        check=True, stdout=subprocess.PIPE, cwd=here, text=True,
    ).stdout
    return json.loads(output)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 3 scans")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--child", choices=SETS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.reps = 3, 3
    if args.child:
        print(json.dumps(measure_set(args.child, args.rounds, args.reps)))
        return
    rows = list(itertools.chain.from_iterable(run_set_in_child(s, args.rounds, args.reps) for s in args.sets))
    print("CPU per scan, %d rounds × %d scans, Python %s, %d CPUs" % (
        args.rounds, args.reps, sys.version.split()[0], os.cpu_count()))
    print(table(rows))


if __name__ == "__main__":
    main()
