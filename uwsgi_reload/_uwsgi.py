"""Turning reloading on in a uWSGI instance: which tick, which state, which hooks.

The other uWSGI modules each do one job: ``_ticks`` (when a worker scans),
``_reloader`` (what a scan leads to), ``_exit`` (a leaving worker is quick),
``_master`` (the master notices each exit at once), ``_preload`` (new
workers start with the libraries earlier ones imported). This one reads the
options, says what is wrong with the setup, and wires them together.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
import traceback
from typing import Any, Dict, List, Optional, Set

import uwsgi

from . import _exit, _master, _preload, _ticks
from ._baselines import rarely_edited_roots
from ._diagnostics import misconfigurations, reexec_breaks, server_log_files, shared_folder
from ._hooks import install as install_hooks
from ._instance import (
    InstanceState,
    NoPrivatePlace,
    candidate_bases,
    instance_key,
    master_alive,
    open_private_directory,
)
from ._options import Options, printable, read_options
from ._reloader import Reloader
from ._scanner import Watcher
from ._uwsgi_browser import activate as activate_browser
from ._worker import first_in_instance, log, option, option_is_true, respawned, this_worker

#: Above this many watched files the start line also gives the cost of a scan.
MANY_FILES = 10_000


def _relative(path: str) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return printable(path)
    return printable(path if relative.startswith("..") else relative)


def describe(paths: List[str], limit: int = 5) -> str:
    names = ", ".join(_relative(path) for path in paths[:limit])
    if len(paths) > limit:
        names += " and %d more" % (len(paths) - limit)
    return names


def options() -> "tuple[Options, List[str]]":
    candidates = [os.environ["PWD"]] if os.environ.get("PWD") else []
    return read_options(uwsgi.opt, candidates)


def _app_loaded() -> bool:
    """Under lazy-apps, True once this worker has loaded its app."""
    return bool(this_worker().get("apps")) or hasattr(sys, "last_value")


def _app_files(opt: Dict[str, Any]) -> List[str]:
    """The wsgi-file uWSGI is about to load: watched from now, and even while it is missing."""
    files = []
    for key in ("wsgi-file", "file"):
        value = opt.get(key)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, bytes):
                item = os.fsdecode(item)
            if isinstance(item, str) and item:
                files.append(item)
    return files


def _open_state(first: bool) -> "tuple[Optional[InstanceState], List[str]]":
    """This worker's view of the instance state, and what to say about where it lives.

    Opened in each worker, as the user it runs as: with master-as-root the
    master is root and the workers are not.
    """
    try:
        directory_fd, path, refused = open_private_directory(candidate_bases())
    except NoPrivatePlace as reason:
        return None, [
            "no private directory for the state workers share (%s): reloads still work, "
            "but each worker that sees a change may log it and reload" % printable(str(reason))
        ]
    state = InstanceState(directory_fd, instance_key(uwsgi.masterpid()))
    if first:
        try:
            state.remove_stale(master_alive)
        except OSError:
            pass
    if refused:
        return state, ["the workers share their state in %s (refused: %s)" % (printable(path), printable("; ".join(refused)))]
    return state, []


def _learned_in_master() -> List[str]:
    """In the master: the library modules the workers said they imported after the fork."""
    try:
        directory_fd, _, _ = open_private_directory(candidate_bases())
    except NoPrivatePlace:
        return []
    try:
        return InstanceState(directory_fd, instance_key(uwsgi.masterpid())).read().get("preload", [])
    except OSError:
        return []
    finally:
        os.close(directory_fd)


def _preload_blocker(lazy: bool) -> str:
    """Why ``uwsgi-reload-preload`` cannot work here whatever the ini says, or ''."""
    if lazy:
        return ("uwsgi-reload-preload = true does nothing under lazy-apps with import = uwsgi_reload: "
                "the master does not import uwsgi_reload (shared-import = uwsgi_reload does)")
    version = uwsgi.version.decode() if isinstance(uwsgi.version, bytes) else str(uwsgi.version)
    if tuple(int(part) for part in re.findall(r"\d+", version)[:3]) < (2, 0, 27):
        # Before 2.0.27 the fork hooks take the import lock, not PyOS_BeforeFork:
        # Python's before-fork hooks never run in the master.
        return ("uwsgi-reload-preload = true needs uWSGI 2.0.27 or later, whose py-call-uwsgi-fork-hooks "
                "runs Python in the master before it forks (this is uWSGI %s); not preloading" % version)
    if not getattr(uwsgi, "has_threads", True):
        return ("uwsgi-reload-preload = true needs Python threads (enable-threads = true): uWSGI runs "
                "its fork hooks only then; not preloading")
    return ""


def _preload_problem(opt: Dict[str, Any], lazy: bool) -> str:
    """Why ``uwsgi-reload-preload = true`` cannot work in this instance, or ''."""
    blocker = _preload_blocker(lazy)
    if blocker:
        return blocker
    if not option_is_true(opt, "py-call-uwsgi-fork-hooks"):
        return ("uwsgi-reload-preload = true needs py-call-uwsgi-fork-hooks = true: only then does uWSGI "
                "run Python in the master before it forks; not preloading")
    return ""


def _reexec_problem(opt: Dict[str, Any]) -> str:
    """Why this worker must not ask the master for a reload, or ''."""
    try:
        os.kill(uwsgi.masterpid(), 0)
    except PermissionError:
        return (
            "this worker (uid %d) may not signal the master (pid %d), which runs as another user "
            "(master-as-root): run the master as the workers' user" % (os.getuid(), uwsgi.masterpid())
        )
    except OSError:
        pass
    fix = _reexec_fix(opt)
    if fix:
        return (
            "under pyuwsgi in a virtualenv a reload re-execs the base interpreter, which cannot "
            "import pyuwsgi, and the instance dies (uWSGI #2478): add %s to the uWSGI options" % fix
        )
    return ""


#: Options that run the workers' requests on an async loop engine, where a
#: real thread of ours beside the loop proved unreliable (gevent's
#: monkey-patching happens after the fork, under a thread already running).
ASYNC_LOOP_KEYS = ("gevent", "async", "ugreen", "greenlet", "asyncio", "tornado", "loop")


def _async_loop(opt: Dict[str, Any]) -> str:
    """The option that puts the workers on an async loop engine, or ''."""
    for key in ASYNC_LOOP_KEYS:
        value = opt.get(key)
        if value not in (None, b"", b"0", b"1"):  # async = 1 is the plain loop
            return key
    return ""


def _plain_request_loop(opt: Dict[str, Any]) -> bool:
    """Workers serve one request at a time, without threads or an async loop."""
    try:
        threads = int(option(opt, "threads") or 1)
    except ValueError:
        threads = 1
    return threads <= 1 and not _async_loop(opt)


class _Tick:
    """How this instance's workers scan, in the words of the start line."""

    def __init__(self, settings: Options, lazy: bool, opt: Dict[str, Any]) -> None:
        self.interval = settings.interval
        self.problem = ""
        whole = float(self.interval).is_integer()
        threads = getattr(uwsgi, "has_threads", True)
        async_loop = _async_loop(opt)
        self.timer = not lazy and (whole or not threads or bool(async_loop))
        workers = max(1, uwsgi.numproc)
        if self.timer:
            # Timer turns need a short thread in each worker to add its timer.
            self.turns = min(workers, _ticks.MAX_TURNS) if threads and not async_loop else 1
        else:
            self.turns = workers
        self.turn_words = ", in turns: a worker every %gs" % (self.interval / self.turns) if self.turns > 1 else ""
        if self.timer and not whole:
            self.interval = float(math.ceil(self.interval))
            reason = "%s = is on" % async_loop if async_loop else "Python threads are off (enable-threads = true)"
            self.problem = "uwsgi-reload-interval = %g: %s, so a uWSGI timer scans, in whole seconds: every %gs" % (
                settings.interval, reason, self.interval)
        self.inactive = lazy and not threads
        if self.timer:
            self.words = "by a uWSGI timer in each worker"
        elif lazy:
            self.words = "by a thread in each worker (lazy-apps: a worker cannot set a uWSGI timer)"
        else:
            self.words = "by a thread in each worker (uWSGI timers take whole seconds)"


def _stat_cost(paths: List[str]) -> float:
    """Seconds to stat every path once: what a scan costs, without taking its changes."""
    started = time.perf_counter()
    for path in paths:
        try:
            os.stat(path)
        except OSError:
            pass
    return time.perf_counter() - started


def _start_lines(watcher: Watcher, tick: _Tick) -> List[str]:
    watched = watcher.watched_files()
    lines = ["watching %d files, checked every %gs %s%s" % (len(watched), tick.interval, tick.words, tick.turn_words)]
    if len(watched) > MANY_FILES:
        lines.append(
            "%d files are many: a scan took %.1f ms; uwsgi-reload-ignore can leave out "
            "trees nobody edits" % (len(watched), _stat_cost(watched) * 1000)
        )
    try:
        with open("/proc/mounts") as mounts:
            kind = shared_folder(os.getcwd(), mounts.read())
    except OSError:
        kind = ""
    if kind:
        lines.append(
            "the app is on a %s shared folder: inotify-based reloaders miss edits made on "
            "the host there; uwsgi_reload polls, so it sees them" % kind
        )
    for pattern in watcher.glob_overflow:
        lines.append("%s matches more than 10000 files; only the first 10000 are watched" % printable(pattern))
    return lines


def _reexec_fix(opt: Dict[str, Any]) -> str:
    """Under pyuwsgi, the ini line without which a reload kills the instance, or ''."""
    target = opt.get("binary-path")
    if isinstance(target, bytes):
        target = os.fsdecode(target)
    if not isinstance(target, str) or not target:
        try:
            target = os.readlink("/proc/%d/exe" % uwsgi.masterpid())
        except OSError:
            return ""
    return reexec_breaks(target, sys.prefix, sys.base_prefix, "pyuwsgi" in sys.modules)


#: Under lazy-apps, what the master would spare if it imported uwsgi_reload.
SHARED_IMPORT_NOTE = (
    "under lazy-apps, import = uwsgi_reload runs in the workers alone, so every reload re-execs the "
    "master, a second after the workers left; with shared-import = uwsgi_reload the master imports it "
    "too, and an edit of the app restarts the workers alone"
)


def _wait_for_loaded_workers(timeout: float = 30.0) -> None:
    """Under lazy-apps, wait (bounded) until every other worker has loaded its app.

    uWSGI installs a worker's own signal handlers only once its app is
    loaded (uwsgi_worker_run in core/uwsgi.c): a worker still loading runs
    the master's SIGHUP handler instead of leaving, and the reload then waits
    for worker-reload-mercy (60 s).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(worker.get("apps") for worker in uwsgi.workers()
               if worker.get("pid", 0) > 0 and worker.get("id") != uwsgi.worker_id()):
            return
        time.sleep(0.05)


def _guarded(function: Any) -> Any:
    """A tick must never end the thread or escape into uWSGI's signal handler."""

    def guarded(*args: Any) -> None:
        try:
            function()
        except Exception:
            log("scan failed, will try again: " + printable(traceback.format_exc()))

    return guarded


def activate(watcher: Watcher) -> Optional[Reloader]:
    """Start reloading this uWSGI instance; log why not when it cannot."""
    settings, problems = options()
    in_master = uwsgi.worker_id() == 0
    first = first_in_instance()
    opt = dict(uwsgi.opt)
    if first:
        for problem in problems:
            log(problem)
    watcher.written_elsewhere(server_log_files(opt))
    watcher.ignore(*settings.ignore)
    for path in settings.extra:
        try:
            watcher.watch(path)
        except ValueError as error:
            log(printable(str(error)))
    for path in _app_files(opt):
        watcher.watch_error_file(path)
    if not settings.enabled:
        if first:
            log("off (uwsgi-reload = false): files are not watched")
        return None
    if not uwsgi.masterpid():
        log("inactive: reloading needs the master process; add master = true to the uWSGI options")
        return None
    tick = _Tick(settings, lazy=not in_master, opt=opt)
    if tick.inactive:
        if first:
            log("inactive: under lazy-apps each worker scans from a thread, and Python threads "
                "are off in this uWSGI; add enable-threads = true")
        return None
    preload_problem = _preload_problem(opt, lazy=not in_master) if settings.preload else ""
    if first:
        if tick.problem:
            log(tick.problem)
        if preload_problem:
            log(preload_problem)
        for line in misconfigurations(opt):
            log(line)
    install_hooks(watcher)
    reloader = Reloader(watcher, log, describe, lambda watcher: _start_lines(watcher, tick))
    learner = None
    inherited_modules: Set[str] = set()  # without preloading: what this worker was forked with
    if settings.preload and not preload_problem:
        learner = _preload.Learner(reloader.share_learned, rarely_edited_roots())
        preload = _preload.ImportBeforeFork(_learned_in_master, log, in_master=lambda: uwsgi.worker_id() == 0)
        os.register_at_fork(before=preload.before, after_in_parent=preload.after_in_parent,
                            after_in_child=preload.after_in_child)
    # What the browser's script compares to know new code is served: the
    # master's exec (its import time; under lazy-apps, where only workers
    # import us, uWSGI's start in whole seconds) and the instance generation,
    # which a restart of the workers alone steps too.
    master_exec = "%d.%d" % (uwsgi.started_on, time.time_ns()) if in_master else "%d" % uwsgi.started_on
    reloader.master_life = master_exec
    # lazy = true answers a reload by replacing the workers, with no
    # re-exec (grace_them_all, core/uwsgi.c): the master's life goes on, so
    # no claim may name it.
    never_reexecs = option_is_true(opt, "lazy")
    if never_reexecs:
        reloader.master_life_unique_from = math.inf
    elif not in_master:
        reloader.master_life_unique_from = uwsgi.started_on + 1
    activate_browser(lambda: "%s.%d" % (master_exec, reloader.generation), tick.interval)
    _exit.install(log, on_stop=reloader.stopped)

    def learn_and_scan() -> None:
        if learner is not None:
            learner.learn()
        reloader.tick()

    scan = _guarded(learn_and_scan)

    def open_state_in_this_worker() -> "tuple[Optional[InstanceState], List[str], bool]":
        """The instance state, the notes on it, and whether this is the instance's first start.

        A worker forked while its master re-execs leaves here, before it
        serves anything.
        """
        first_start = uwsgi.worker_id() == 1 and not respawned()
        instance, notes = _open_state(first_start)
        reloading_for = reloader.forked_during_reload(instance)
        if reloading_for:
            log("worker %d was forked after the reload for %s began, and uWSGI would wait for it for ever: "
                "it leaves at once" % (uwsgi.worker_id(), describe(reloading_for)))
            # The worker that claimed it may have died before it asked the
            # master (under lazy-apps it first waits for loading workers):
            # every respawn would then leave in turn, for ever. So ask
            # again; a master already reloading ignores it.
            reloader.before_full_reload()
            uwsgi.reload()
            os._exit(_exit.RELOAD_CODE)
        return instance, notes, first_start

    # Under lazy-apps each worker loads the app after its fork. It scans,
    # and worker 1 says that the instance is up, once the app is in: the
    # start line then counts the app's files, and "reloaded" comes when the
    # new code can be served.
    lazy_apps = not in_master or never_reexecs or option_is_true(opt, "lazy-apps")
    app_in = not lazy_apps
    to_announce = False

    def ready(in_request_loop: bool = False) -> bool:
        """The app is in, or failed; worker 1 says so first, once.

        uWSGI runs a worker's signal handlers in its request loop only,
        after loading the app: a timer tick tells so even where no app
        could be loaded (a wsgi-file that is missing).
        """
        nonlocal app_in, to_announce
        if not app_in and (in_request_loop or _app_loaded()):
            app_in = True
        if app_in and to_announce:
            to_announce = False
            reloader.announce()
        return app_in

    def start_in_this_worker(instance: Optional[InstanceState], notes: List[str], first_start: bool) -> None:
        nonlocal to_announce
        reloader.cannot_reexec = _reexec_problem(opt)
        reloader.started(instance, notes)
        # Without a state to tell a respawn from a start, a respawned worker 1 stays quiet.
        to_announce = uwsgi.worker_id() == 1 and (instance is not None or first_start)
        ready()

    if lazy_apps:
        reloader.before_full_reload = _wait_for_loaded_workers

    if not in_master:
        # lazy-apps: this worker is about to load the app; it starts
        # scanning once the app is in, so the start line counts its files.
        opened = open_state_in_this_worker()
        if not never_reexecs:
            opened[1].append(SHARED_IMPORT_NOTE)
        started = False

        def lazy_tick() -> float:
            nonlocal started
            if not started:
                if not _app_loaded():
                    return watcher.settle
                started = True
                start_in_this_worker(*opened)
            scan()
            return tick.interval

        _ticks.start_thread(lazy_tick, watcher.settle, _ticks.turn_offset(tick.interval))
        return reloader

    reloader.leave_signal = _ticks.signal_every_worker(reloader.leave_if_outdated)
    hold_reloads = _plain_request_loop(opt)

    def timer_tick(signum: int) -> None:
        if _exit.reload_pending():
            _exit.leave_between_requests()  # a reload from elsewhere (kill -HUP, touch-reload)
        elif ready(in_request_loop=True):
            scan()

    def thread_tick() -> float:
        if _exit.reload_pending():
            # Only the worker's main thread may leave: through the handler.
            uwsgi.signal(reloader.leave_signal)
        elif ready():
            scan()
        return tick.interval

    if tick.timer:
        _ticks.TakeTurns(int(tick.interval), timer_tick, tick.turns, log)

    def after_fork() -> None:
        try:
            _master.restore_in_worker()
            if hold_reloads:
                _exit.hold_reloads()
            watcher.forked(scans_for_instance=uwsgi.worker_id() == 1)
            if learner is not None:
                learner.forked()
            else:
                inherited_modules.update(sys.modules)
            start_in_this_worker(*open_state_in_this_worker())
            if not tick.timer:
                _ticks.start_thread(thread_tick, tick.interval, _ticks.turn_offset(tick.interval))
        except KeyboardInterrupt:
            # A SIGINT (stop) that arrives before uWSGI has set up the new
            # worker's own handlers surfaces here as an exception; swallowed,
            # the master would wait for this worker forever. Stop as asked.
            os._exit(0)

    if learner is None and not _preload_blocker(lazy=not in_master):
        # Only where the hint's two lines would preload: what they would spare.
        def preload_hint() -> str:
            names = _preload.library_modules(sys.modules, inherited_modules, rarely_edited_roots())
            return _preload.hint(names) if len(names) >= _preload.HINT_AT_LEAST else ""

        reloader.workers_restart_hint = preload_hint
    _ticks.after_fork(after_fork)
    _master.wake_on_child_exit()
    return reloader
