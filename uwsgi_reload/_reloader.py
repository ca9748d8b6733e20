"""What a worker does at each tick: scan, and on a change reload the instance once.

Several workers may see one change (each scans what it imported), so the first
to claim the change in the instance state logs it and reloads; the others stay
quiet. A claim is a step of the instance's generation: a worker only claims
from the generation it was started in, so a worker still finishing a request
after a reload never reloads again for an old change.

Two kinds of reload. When only files that workers imported after the fork
changed (Django imports views and URLconfs on the first request), the workers
alone are replaced: the master forks fresh ones, which import the new files;
no re-exec, no re-import of every library. Any other change (a file the
master imported, an extra file the master may have read) reloads the whole
instance, or stale code would be served.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional

import uwsgi

from . import _exit
from ._instance import InstanceState
from ._preload import MAX_LEARNED
from ._scanner import Watcher

#: At most this many files the app writes are shared between workers.
MAX_APP_WRITTEN = 1000


class Reloader:
    """One worker's scans, and the reloads they call for."""

    def __init__(
        self,
        watcher: Watcher,
        log: Callable[[str], None],
        describe: Callable[[List[str]], str],
        start_lines: Callable[[Watcher], List[str]],
    ) -> None:
        self.watcher = watcher
        self.instance: Optional[InstanceState] = None
        self.log = log
        self.describe = describe
        self._start_lines = start_lines
        self._notes: List[str] = []
        #: The uWSGI signal on which outdated workers leave; None where the
        #: master does not import us (lazy-apps): every reload is then whole.
        self.leave_signal: Optional[int] = None
        #: Why the master must not re-exec (a reload would kill it), or ''.
        self.cannot_reexec = ""
        #: Called before asking the master for a whole reload.
        self.before_full_reload: Callable[[], None] = lambda: None
        #: At a restart of the workers alone: a line on how it could be
        #: quicker, or ''; the first such line is logged, once per instance.
        self.workers_restart_hint: Callable[[], str] = lambda: ""
        self.generation = 0
        #: Which life of the master forked this worker (a re-exec starts a
        #: new one): a whole reload's claim names it.
        self.master_life = ""
        #: A claim made before this time cannot name the life: under
        #: lazy-apps it is uWSGI's start in whole seconds, which the next
        #: life shares until that second is over.
        self.master_life_unique_from = 0.0

    # -- the instance state ----------------------------------------------------

    def _state(self) -> Dict[str, Any]:
        if self.instance is None:
            return {}
        try:
            return self.instance.read()
        except OSError:
            return {}

    def _update(self, change: Callable[[Dict[str, Any]], Any], default: Any) -> Any:
        if self.instance is None:
            return default
        try:
            return self.instance.update(change)
        except OSError as error:
            self.log("cannot update the instance state (%s)" % error)
            return default

    def _publish_write(self, path: str) -> None:
        def add(state: Dict[str, Any]) -> None:
            written = state.setdefault("app_written", [])
            if path not in written and len(written) < MAX_APP_WRITTEN:
                written.append(path)

        self._update(add, None)

    def _app_written(self) -> List[str]:
        return self._state().get("app_written", [])

    def share_learned(self, names: List[str]) -> None:
        """Add library modules this worker imported after the fork to those the master preloads."""

        def add(state: Dict[str, Any]) -> None:
            learned = state.setdefault("preload", [])
            known = set(learned)
            learned.extend(name for name in names if name not in known)
            del learned[MAX_LEARNED:]

        self._update(add, None)

    # -- a new worker --------------------------------------------------------

    def started(self, instance: Optional[InstanceState], notes: List[str]) -> None:
        """In a new worker: which generation it serves, and what the app writes.

        *notes* go with the start line.
        """
        self.instance = instance
        self._notes = notes
        if instance is not None:
            self.watcher.share_writes(self._publish_write, self._app_written)
        state = self._state()
        self.generation = state.get("generation", 0)
        self.watcher.set_aside(state.get("app_written", []))

    def announce(self) -> None:
        """Say that the instance started, or reloaded: one worker, once its app is in."""
        for line in self._update(self._announcement, self.start_lines()):
            self.log(line)

    def start_lines(self) -> List[str]:
        lines = self._start_lines(self.watcher) + self._notes
        if self.cannot_reexec:
            lines.append(self.cannot_reexec + "; until then only files the workers alone imported reload")
        return lines

    def stopped(self) -> None:
        """The instance stops: its state goes."""
        if self.instance is not None:
            self.instance.remove()

    def _announcement(self, state: Dict[str, Any]) -> List[str]:
        lines = self._name_app_written(state, state.get("app_written", []))
        if state.get("announced") == self.generation or self._outdated_by(state.get("claim")):
            return lines  # a worker respawned (max-requests) in this generation, or before a re-exec
        state["announced"] = self.generation
        claim = state.get("claim")
        if claim is not None and claim["generation"] >= self.generation:
            # A reload asked for since this generation began (under
            # lazy-apps worker 1 speaks once its app is in, and another
            # worker may have claimed an edit by then): its own new workers
            # say when it is done.
            return lines
        state.pop("claim", None)
        if claim is None:
            return self.start_lines() + lines
        took = max(0.0, time.time() - claim["at"])
        return ["reloaded for %s in %.2fs" % (self.describe(claim["files"]), took)] + lines

    # -- at each tick ----------------------------------------------------------

    def tick(self) -> None:
        changed = self.watcher.check()
        if self.watcher.rewritten_by_app:
            self._report_rewritten()
        if changed:
            self._reload(changed)

    def _reload(self, changed: List[str]) -> None:
        workers_only = self.leave_signal is not None and self.watcher.only_own(changed)
        if not workers_only and self.cannot_reexec:
            self.log("%s changed, not reloading: %s" % (self.describe(changed), self.cannot_reexec))
            return
        if not self._update(self._claim("workers" if workers_only else "full", changed), True):
            return  # another worker is reloading for it already
        if workers_only:
            self.log("%s changed, restarting the workers (only they imported it)" % self.describe(changed))
            uwsgi.signal(self.leave_signal)
            if not self._state().get("hinted"):
                line = self.workers_restart_hint()
                if line and self._update(self._first_time("hinted"), False):
                    self.log(line)
            return
        self.log("%s changed, reloading" % self.describe(changed))
        self.before_full_reload()
        uwsgi.reload()
        if self.leave_signal is not None:
            # The master has just sent every worker its SIGHUP, which they
            # hold: this lets each leave at its next point between requests.
            uwsgi.signal(self.leave_signal)

    @staticmethod
    def _first_time(key: str) -> Callable[[Dict[str, Any]], bool]:
        def first(state: Dict[str, Any]) -> bool:
            if state.get(key):
                return False
            state[key] = True
            return True

        return first

    def _outdated_by(self, claim: Optional[Dict[str, Any]]) -> bool:
        """The master that forked this worker re-execs for *claim* already.

        A worker it forked since (a max-requests respawn) starts in the new
        generation but with the master's old files: it must neither claim
        them again nor say that the reload is done.
        """
        return bool(claim) and claim["kind"] == "full" and bool(claim.get("master")) and claim["master"] == self.master_life

    def forked_during_reload(self, instance: Optional[InstanceState]) -> List[str]:
        """In a new worker: the files of the whole reload its master is carrying out already, or [].

        uWSGI's master forks a worker even after a reload began: a reload's
        SIGHUP cuts short its "respawning too fast" sleep, and it goes on to
        respawn the worker it was sleeping for (``master_check_processes``,
        core/master.c). That worker is never told to leave and never given
        a deadline, and the master waits for it for ever.
        """
        if instance is None:
            return []
        try:
            claim = instance.read().get("claim")
        except OSError:
            return []
        return list(claim["files"]) if self._outdated_by(claim) else []

    def _claim(self, kind: str, files: List[str]) -> Callable[[Dict[str, Any]], bool]:
        def claim(state: Dict[str, Any]) -> bool:
            current = state.get("generation", 0)
            earlier = state.get("claim")
            if self._outdated_by(earlier):
                return False
            if self.generation == current:
                state["generation"] = current + 1
                now = time.time()
                state["claim"] = {"generation": current, "at": now, "kind": kind, "files": files,
                                  "master": self.master_life if now >= self.master_life_unique_from else ""}
                return True
            if kind == "full" and earlier and earlier["generation"] == self.generation and earlier["kind"] == "workers":
                # Restarting the workers is under way for a file only they
                # imported, and this one the master imported: reload it all.
                earlier.update(kind="full", files=sorted(set(earlier["files"]) | set(files)))
                return True
            return False

        return claim

    def leave_if_outdated(self, signum: int) -> None:
        """The handler of leave_signal: a worker of an older generation, or
        one a reload is waiting for, leaves.

        It runs between two requests, so uWSGI's graceful exit never finds a
        connection accepted and not yet read.
        """
        if _exit.reload_pending() or self.generation < self._state().get("generation", 0):
            _exit.leave_between_requests()

    def _report_rewritten(self) -> None:
        """Share the files found to be the app's own writes, and name them once per instance."""
        paths = list(self.watcher.rewritten_by_app)
        self.watcher.rewritten_by_app.clear()

        def share(state: Dict[str, Any]) -> List[str]:
            written = state.setdefault("app_written", [])
            written.extend(path for path in paths if path not in written)
            del written[MAX_APP_WRITTEN:]
            return self._name_app_written(state, paths)

        for line in self._update(share, self._name_app_written({}, paths)):
            self.log(line)

    def _name_app_written(self, state: Dict[str, Any], paths: List[str]) -> List[str]:
        named = state.setdefault("named", [])
        new = [path for path in paths if path not in named]
        named.extend(new)
        del named[MAX_APP_WRITTEN:]
        if not new:
            return []
        return [
            "%s %s written by the app itself: reloading for it would loop, so it is no longer "
            "watched (list it in uwsgi-reload-ignore to silence this)"
            % (self.describe(new), "is" if len(new) == 1 else "are")
        ]
