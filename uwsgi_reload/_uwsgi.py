"""The only module that talks to uWSGI.

Who scans: a daemon thread in every worker (no uWSGI signals or timers, so
nothing accumulates across respawns and intervals can be fractions). Worker 1
scans everything the instance loaded before forking plus the extra files; every
other worker scans only the modules it imported itself after the fork (a view
Django imports on first request). With ``lazy-apps`` each worker loads the app
itself, so each scans its own modules.

One reload per change: the worker that sees a change first takes an exclusive
lock on a per-instance file and is the only one to log and call
``uwsgi.reload()``; the lock is released when that worker exits in the reload.

A quick reload: the master notices dead workers only when its event loop wakes,
which without an event is once a second, so a graceful reload sat idle for about
a second after the last worker had exited. A SIGCHLD handler in the master wakes
it at each exit (``epoll_wait`` is never restarted after a handler runs).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from typing import Any, Dict, List, Optional

import uwsgi

from ._diagnostics import misconfigurations, server_log_files, shared_folder
from ._hooks import install as install_hooks
from ._options import Options, printable, read_options
from ._scanner import Watcher

PREFIX = "uwsgi_reload: "
#: Above this many watched files the start line also gives the cost of a scan.
MANY_FILES = 10_000


def log(message: str) -> None:
    uwsgi.log(PREFIX + message)


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
    opt = uwsgi.opt
    candidates = [os.environ["PWD"]] if os.environ.get("PWD") else []
    return read_options(opt, candidates)


class _Instance:
    """Files shared by the workers of one uWSGI instance (keyed by the master's PID)."""

    def __init__(self) -> None:
        directory = os.path.join(tempfile.gettempdir(), "uwsgi_reload-%d" % os.getuid())
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError:
            pass
        base = os.path.join(directory, str(uwsgi.masterpid()))
        self.lock_path = base + ".lock"
        self.state_path = base + ".json"
        self._lock_fd: Optional[int] = None

    def claim_reload(self) -> bool:
        """True for the first worker to ask; it keeps the lock until it exits."""
        if self._lock_fd is not None:
            return True
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as error:
            log("cannot open %s (%s); reloading without deduplication" % (self.lock_path, error))
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            return True
        self._lock_fd = fd
        return True

    def load_state(self) -> Dict[str, Any]:
        try:
            with open(self.state_path, encoding="utf-8") as state:
                loaded = json.load(state)
            return loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            return {}

    def save_state(self, state: Dict[str, Any]) -> None:
        partial = self.state_path + ".%d" % os.getpid()
        try:
            with open(partial, "w", encoding="utf-8") as out:
                json.dump(state, out)
            os.replace(partial, self.state_path)
        except OSError:
            pass


class Reloader:
    """The scanning thread of one worker."""

    def __init__(self, watcher: Watcher, interval: float, instance: _Instance, generation: str) -> None:
        self.watcher = watcher
        self.interval = interval
        self.instance = instance
        self.generation = generation
        self.thread: Optional[threading.Thread] = None
        self._announced = False
        self._scan_seconds = 0.0

    def start_in_worker(self, app_loaded: bool) -> None:
        worker = uwsgi.worker_id()
        if worker <= 0 or (self.thread is not None and self.thread.is_alive()):
            return
        if worker != 1:
            self.watcher.forget_inherited()
        self.thread = threading.Thread(
            target=self._run, args=(app_loaded,), name="uwsgi_reload", daemon=True
        )
        self.thread.start()

    def _run(self, app_loaded: bool) -> None:
        # The start line reports the files of the loaded app: with lazy-apps,
        # scan at the settling pace until this worker's app is in.
        ready = app_loaded
        while True:
            try:
                ready = ready or _app_loaded() or hasattr(sys, "last_value")
                started = time.perf_counter()
                changed = self.watcher.check()
                self._scan_seconds = time.perf_counter() - started
                if self.watcher.rewritten_by_app:
                    self._report_rewritten()
                if ready and not self._announced:
                    self._announced = True
                    self._announce()
                if changed and self._reload(changed):
                    return
            except Exception:
                log("scan failed, will try again: " + printable(traceback.format_exc()))
            busy = self.watcher.pending or not ready
            time.sleep(self.watcher.settle if busy else self.interval)

    def _announce(self) -> None:
        # Once per start of the instance: a worker 1 respawned by max-requests
        # finds its generation already announced.
        if uwsgi.worker_id() != 1:
            return
        state = self.instance.load_state()
        if state.get("announced") == self.generation:
            return
        state["announced"] = self.generation
        self.instance.save_state(state)
        watched = self.watcher.watched_files()
        log(
            "watching %d files every %gs (worker 1 scans the instance; other workers "
            "scan only the modules they import)" % (len(watched), self.interval)
        )
        if len(watched) > MANY_FILES:
            log(
                "%d files are many: a scan took %.1f ms; uwsgi-reload-ignore can leave out "
                "trees nobody edits" % (len(watched), self._scan_seconds * 1000)
            )
        try:
            with open("/proc/mounts") as mounts:
                kind = shared_folder(os.getcwd(), mounts.read())
        except OSError:
            kind = ""
        if kind:
            log(
                "the app is on a %s shared folder: inotify-based reloaders miss edits made on "
                "the host there; uwsgi_reload polls, so it sees them" % kind
            )
        for pattern in self.watcher.glob_overflow:
            log("%s matches more than 10000 files; only the first 10000 are watched" % printable(pattern))

    def _report_rewritten(self) -> None:
        """Once per instance, name the files the app rewrites itself."""
        state = self.instance.load_state()
        known = state.get("rewritten", [])
        new = [path for path in self.watcher.rewritten_by_app if path not in known]
        self.watcher.rewritten_by_app.clear()
        if new:
            state["rewritten"] = known + new
            self.instance.save_state(state)
            log(
                "%s changed, but the app writes it itself: reloading for it would loop, "
                "so it is no longer watched (list it in uwsgi-reload-ignore to silence this)"
                % describe(new)
            )

    def _reload(self, changed: List[str]) -> bool:
        if not self.instance.claim_reload():
            return True  # another worker is reloading the instance already
        log("%s changed, reloading" % describe(changed))
        uwsgi.reload()
        return True


def _child_exited(signum: int, frame: Any) -> None:
    """Nothing to do: being called has already woken the master's event loop."""


def wake_master_on_child_exit() -> None:
    """In the master, before fork: make each worker's exit wake the master at once."""
    if signal.getsignal(signal.SIGCHLD) is not signal.SIG_DFL:
        return  # the app has its own handler, or children are ignored: leave it be
    try:
        signal.signal(signal.SIGCHLD, _child_exited)
    except ValueError:
        return  # not the main thread of the main interpreter: reloads keep uWSGI's pace
    # SA_RESTART: other system calls of the master and its children carry on
    # as before; epoll_wait still returns at once.
    signal.siginterrupt(signal.SIGCHLD, False)


def _restore_child_signal() -> None:
    """In a worker: its own children are the app's business, as without us."""
    if signal.getsignal(signal.SIGCHLD) is _child_exited:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def _this_worker() -> Dict[str, Any]:
    me = uwsgi.worker_id()
    for worker in uwsgi.workers():
        if worker.get("id") == me:
            return worker
    return {}


def _respawned() -> bool:
    """True in a worker that replaced a dead one, to keep start lines to one per start."""
    return bool(_this_worker().get("respawn_count", 0))


def _app_loaded() -> bool:
    """In lazy-apps mode, True once this worker has loaded its app."""
    return bool(_this_worker().get("apps"))


def activate(watcher: Watcher) -> Optional[Reloader]:
    """Start reloading this uWSGI instance; log why not when it cannot."""
    settings, problems = options()
    first_in_instance = uwsgi.worker_id() == 0 or (uwsgi.worker_id() == 1 and not _respawned())
    if first_in_instance:
        for problem in problems:
            log(problem)
    for path in server_log_files(dict(uwsgi.opt)):
        watcher.note_write(path)
    watcher.watch(*settings.extra)
    watcher.ignore(*settings.ignore)
    if not settings.enabled:
        if first_in_instance:
            log("off (uwsgi-reload = false): files are not watched")
        return None
    if not uwsgi.masterpid():
        log("inactive: reloading needs the master process; add master = true to the uWSGI options")
        return None
    if not getattr(uwsgi, "has_threads", True):
        log("inactive: Python threads are off in this uWSGI; add enable-threads = true")
        return None
    if first_in_instance:
        for line in misconfigurations(dict(uwsgi.opt)):
            log(line)
    install_hooks(watcher)
    instance = _Instance()
    # Tells one start of the instance from the next. uwsgi.started_on counts
    # whole seconds, and a reload takes less; so the master adds the time of
    # its import, which its workers inherit and its next exec replaces. Under
    # lazy-apps only workers import us, and reloads take over a second.
    generation = "%d" % uwsgi.started_on
    if uwsgi.worker_id() == 0:
        generation += ".%d" % time.time_ns()
    reloader = Reloader(watcher, settings.interval, instance, generation)
    if uwsgi.worker_id() > 0:
        # lazy-apps (or an import from app code in a worker): the app is
        # still loading in this very process.
        reloader.start_in_worker(app_loaded=False)
    else:
        import uwsgidecorators  # needs a master, checked above

        def start_after_fork() -> None:
            try:
                _restore_child_signal()
                reloader.start_in_worker(app_loaded=True)
            except KeyboardInterrupt:
                # A SIGINT (stop) that arrives before uWSGI has set up the new
                # worker's own handlers surfaces here as an exception; swallowed,
                # the master would wait for this worker forever. Stop as asked.
                os._exit(0)

        uwsgidecorators.postfork(start_after_fork)
        wake_master_on_child_exit()
    # uwsgi-reload-browser (live refresh, error page): all of it in _uwsgi_browser.
    from ._uwsgi_browser import activate as activate_browser

    activate_browser(lambda: reloader.generation, settings.interval)
    return reloader
