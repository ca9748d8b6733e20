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
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sys
import tempfile
import threading
import time
import traceback
from typing import Any, Dict, List, Optional

import uwsgi

from ._options import Options, printable, read_options
from ._scanner import Watcher

PREFIX = "uwsgi_reload: "


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


def _is_true(value: Any) -> bool:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value is True or str(value).strip().lower() in {"1", "true", "yes", "on"}


def misconfigurations(opt: Dict[str, Any]) -> List[str]:
    """One line for each setting that makes development reloads worse."""
    lines = []
    if any(key in opt for key in ("http", "https")):
        lines.append(
            "the http router (http =) is a separate process that drops in-flight and new "
            "requests during a reload; use http-socket = instead for development"
        )
    if _is_true(opt.get("need-app", False)):
        lines.append(
            "need-app is on: an app that fails to load stops the instance, so fixing the "
            "file cannot bring it back; set need-app = false for development"
        )
    if _is_true(opt.get("lazy", False)):
        lines.append("lazy = true also reloads workers one by one; lazy-apps = true is enough")
    public = _public_address(opt)
    if public and opt.get("harakiri"):
        # Our guess at production: reachable from other machines and guarding
        # against stuck requests. A Vagrant box listens on 0.0.0.0 too, but
        # rarely sets harakiri.
        lines.append(
            "active on a server listening on %s with harakiri: this looks like production; "
            "set uwsgi-reload = false there" % printable(public)
        )
    return lines


def _public_address(opt: Dict[str, Any]) -> str:
    """The first socket address not on loopback or a unix socket, or ''."""
    for key in ("http-socket", "socket", "uwsgi-socket", "http", "https"):
        value = opt.get(key)
        for address in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(address, bytes):
                address = address.decode("utf-8", "replace")
            if not isinstance(address, str) or ":" not in address or address.startswith("/"):
                continue
            host = address.rsplit(":", 1)[0].split(",")[0]
            if host not in ("127.0.0.1", "localhost", "[::1]", "::1") and not host.startswith("127."):
                return address.split(",")[0]
    return ""


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

    def __init__(self, watcher: Watcher, interval: float, instance: _Instance) -> None:
        self.watcher = watcher
        self.interval = interval
        self.instance = instance
        self.thread: Optional[threading.Thread] = None
        self._announced = False

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
                changed = self.watcher.check()
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
        # finds its generation (uwsgi.started_on) already announced.
        if uwsgi.worker_id() != 1:
            return
        state = self.instance.load_state()
        if state.get("announced") == uwsgi.started_on:
            return
        state["announced"] = uwsgi.started_on
        self.instance.save_state(state)
        log(
            "watching %d files every %gs (worker 1 scans the instance; other workers "
            "scan only the modules they import)" % (len(self.watcher.watched_files()), self.interval)
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


def server_log_files(opt: Dict[str, Any]) -> List[str]:
    """Files uWSGI itself writes its log to: they change at every request."""
    paths = []
    for key in ("logto", "logto2", "daemonize", "daemonize2", "logger", "req-logger"):
        value = opt.get(key)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, bytes):
                item = item.decode("utf-8", "surrogateescape")
            if not isinstance(item, str) or not item:
                continue
            if key.endswith("logger"):
                # Only "file:/path" (or "name file:/path") loggers write a file.
                if "file:" in item:
                    paths.append(item.split("file:", 1)[1])
            else:
                paths.append(item)
    for fd in (1, 2):  # a log redirected by the shell or a supervisor
        try:
            paths.append(os.readlink("/proc/self/fd/%d" % fd))
        except OSError:
            pass
    return [path for path in paths if not path.startswith(("pipe:", "socket:", "/dev/"))]


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
    instance = _Instance()
    reloader = Reloader(watcher, settings.interval, instance)
    if uwsgi.worker_id() > 0:
        # lazy-apps (or an import from app code in a worker): the app is
        # still loading in this very process.
        reloader.start_in_worker(app_loaded=False)
    else:
        import uwsgidecorators  # needs a master, checked above

        def start_after_fork() -> None:
            try:
                reloader.start_in_worker(app_loaded=True)
            except KeyboardInterrupt:
                # A SIGINT (stop) that arrives before uWSGI has set up the new
                # worker's own handlers surfaces here as an exception; swallowed,
                # the master would wait for this worker forever. Stop as asked.
                os._exit(0)

        uwsgidecorators.postfork(start_after_fork)
    return reloader
