"""What changed on disk: the pure core of uwsgi_reload.

Nothing here imports ``uwsgi``: the watcher takes modules, paths and globs, and
answers which files changed since their baseline. Each concern lives in its
own module: which file stands for a module (``_sources``), globs and ignore
rules (``_patterns``), baselines and their tiers (``_baselines``), files the
app writes itself (``_writes``), and the wait for a burst to end
(``_settle``). The uWSGI layer only decides when to call ``check()``.
"""

from __future__ import annotations

import os
import stat as _stat
import sys
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, FrozenSet, Iterable, List, Mapping, Optional, Set, Tuple

from . import _patterns
from ._baselines import Baselines, rarely_edited_roots
from ._settle import SETTLE, SETTLE_LIMIT, settle_burst
from ._sources import Signature, missing_module_files, module_source, read_signature, signature_of, usable_path
from ._writes import AppWrites

__all__ = ["Watcher", "read_signature"]

#: Each inherited app file costs every worker that keeps it a stat() per
#: interval (about 1.5 µs). Above this many, only the worker that scans for
#: the instance keeps them, so a large app's idle CPU does not grow with its
#: workers.
EVERY_WORKER_AT_MOST = 1000


class Watcher:
    """The watched files of one process and their baselines.

    ``scan()`` is one pass over every watched file. ``check()`` is what a tick
    calls: one pass, and when it finds a change, a wait (at most
    ``settle_limit``) until the burst of edits has ended, so that one burst is
    one answer, given by the very call that saw it begin.

    Thread safety: every method takes one re-entrant lock, except
    ``note_import`` and ``note_write``, which only record, so that an import or
    a write in one thread never waits for a scan in another.
    """

    def __init__(
        self,
        modules: Mapping[str, Any] = sys.modules,
        *,
        extra: Iterable[str] = (),
        ignore: Iterable[str] = (),
        settle: float = SETTLE,
        settle_limit: float = SETTLE_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        stat: Callable[[str], os.stat_result] = os.stat,
    ) -> None:
        self._modules = modules
        self._stat = stat
        self._clock = clock
        self._sleep = sleep
        self.settle = settle
        self.settle_limit = settle_limit
        self._ignored = _patterns.IgnoreRules()
        self._ignored.add(*ignore)
        # Re-entrant: a lazy module's __getattr__, run by a scan, may call watch().
        self._lock = threading.RLock()
        # Paths noted by the import system, with their signature and the time then.
        self._inbox: Deque[Tuple[str, Signature, int]] = deque()
        self._globs: List[str] = []
        self._expanded_ns = time.time_ns()  # when the globs were last expanded
        self._baselines = Baselines(stat, rarely_edited_roots())
        self._writes = AppWrites()
        self._module_names: Set[str] = set()
        self._modules_len = -1
        self._skipped: Set[str] = set()
        # Set by forked(): what the process was forked with, and the modules
        # and failed imports it took in since.
        self._inherited: FrozenSet[str] = frozenset()
        self._own: Optional[Set[str]] = None
        #: Changed files set aside because the app writes them itself, for the
        #: host to report; see check().
        self.rewritten_by_app: List[str] = []
        #: Globs cut off at GLOB_MATCH_LIMIT matches, for the host to report.
        self.glob_overflow: List[str] = []
        # How the processes of one instance tell each other which files the
        # app writes: see share_writes().
        self._publish_write: Optional[Callable[[str], None]] = None
        self._published: Set[str] = set()
        self._written_by_others: Callable[[], Iterable[str]] = tuple
        self.watch(*extra)
        with self._lock:
            self._refresh()

    # -- what is watched -------------------------------------------------

    def watch(self, *paths_or_globs: str) -> None:
        """Watch extra files; a glob is expanded now and again at every scan.

        Raises ValueError, keeping none of them, if one cannot name a file.
        """
        paths = []
        for item in paths_or_globs:
            path = usable_path(os.path.expanduser(item) if isinstance(item, str) else item)
            if path is None:
                raise ValueError("uwsgi_reload.watch(): %r cannot name a file" % (item,))
            paths.append(path)
        with self._lock:
            for path in paths:
                if not _patterns.is_glob(path):
                    self._add(path, None, even_if_missing=True, own=False)
                elif path not in self._globs:
                    self._globs.append(path)
                    for match in self._expand(path):
                        self._add(match, None, own=False)

    def watch_error_file(self, path: str) -> None:
        """Watch a file whose import failed, or where a module not found would be."""
        path = usable_path(path)
        if path is not None:
            with self._lock:
                self._add(path, None, even_if_missing=True)

    def watch_for_missing_module(self, name: str) -> None:
        """Watch every place on ``sys.path`` where module *name* could be created."""
        with self._lock:
            for path in missing_module_files(name, list(sys.path)):
                self._add(path, None, even_if_missing=True)

    def note_import(self, path: str, signature: Signature) -> None:
        """Record *path* as the import system read it.

        This reading is the file's baseline: an edit made before the next scan
        is then a change, not the new baseline. Files whose import failed are
        watched too, so fixing them reloads.
        """
        self._inbox.append((os.path.abspath(path), signature, time.time_ns()))

    def note_write(self, path: str) -> None:
        """Record that the app itself opened *path* for writing.

        Never waits for a scan. A file this process watches, or inherited, is
        also published (once), so that the worker that scans it knows.
        """
        self._writes.note(path)
        publish = self._publish_write
        if publish is not None:
            path = os.path.abspath(path)
            if path not in self._published and (path in self._baselines or path in self._inherited):
                self._published.add(path)
                publish(path)

    def share_writes(self, publish: Callable[[str], None], written_by_others: Callable[[], Iterable[str]]) -> None:
        """Let the processes of one instance tell each other the files the app writes.

        *publish(path)* is called before the app writes a watched file;
        *written_by_others()* is asked when a file changed that this process
        did not write.
        """
        self._publish_write = publish
        self._written_by_others = written_by_others

    def written_elsewhere(self, paths: Iterable[str]) -> None:
        """These files are written where the audit hook cannot see (uWSGI's own
        logs, other workers of the instance): a change to one never reloads."""
        self._writes.always(paths)

    def forked(self, scans_for_instance: bool) -> None:
        """Mark the fork: from now on, tell inherited files from the process's own.

        Every worker keeps the app's files it inherited (a Django
        ``models.py``, a Flask view), up to EVERY_WORKER_AT_MOST of them: as
        the workers scan in turns, an edit to one is seen within a fraction
        of the interval. The inherited library files and the glob patterns,
        many and rarely changed, are scanned by the one worker that scans
        for the instance.
        """
        with self._lock:
            self._refresh()
            self._inherited = frozenset(self._baselines.paths()) | frozenset(self._skipped)
            self._own = set()
            if not scans_for_instance:
                self._globs.clear()
                self._baselines.drop_rarely_edited()
                if len(self._baselines.paths()) > EVERY_WORKER_AT_MOST:
                    self._baselines.clear()

    def only_own(self, paths: Iterable[str]) -> bool:
        """True when every path is a module or failed import taken in after the fork."""
        own = self._own
        return own is not None and all(path in own for path in paths)

    def ignore(self, *patterns: str) -> None:
        """Never watch files matching these globs (a bare name matches any directory)."""
        if not patterns:
            return
        with self._lock:
            self._ignored.add(*patterns)
            for path in [path for path in self._baselines.paths() if self._ignored(path)]:
                self._set_aside(path)

    def set_aside(self, paths: Iterable[str]) -> None:
        """Stop watching *paths* for good (other workers found the app writes them)."""
        with self._lock:
            for path in paths:
                self._set_aside(path)

    def watched_files(self) -> List[str]:
        with self._lock:
            self._refresh()
            return sorted(self._baselines.paths())

    def why_not_watched(self, path: str) -> str:
        """Why *path* is not watched, or '' when it is."""
        path = os.path.abspath(path)
        with self._lock:
            self._refresh()
            if path in self._baselines:
                return ""
        if self._ignored(path):
            return "ignored: it matches uwsgi-reload-ignore (%s)" % " ".join(self._ignored.patterns)
        if path in self._skipped:
            return "ignored: a directory, or a file the app writes itself"
        if not os.path.exists(path):
            return "missing: no such file"
        if path.endswith((".pyc", ".pyo")):
            return "no source needed: a module's bytecode maps to its .py, which is watched"
        return "outside: no imported module, extra file or failed import uses it"

    def _refresh(self) -> None:
        """Take in imported files and new modules. Holds the lock."""
        while self._inbox:
            path, signature, taken_ns = self._inbox.popleft()
            self._add(path, signature, taken_ns=taken_ns)
        # Only a change in the number of modules triggers the walk over
        # sys.modules: that walk at every tick is what makes Django's and
        # werkzeug's pollers cost several times the stat() calls themselves.
        if len(self._modules) != self._modules_len:
            modules = dict.copy(self._modules) if isinstance(self._modules, dict) else dict(self._modules)
            self._modules_len = len(modules)
            for name, module in modules.items():
                if name not in self._module_names:
                    self._module_names.add(name)
                    path = module_source(module)
                    if path is not None:
                        self._add(path, None)

    def _add(
        self,
        path: str,
        signature: Signature,
        even_if_missing: bool = False,
        own: bool = True,
        taken_ns: Optional[int] = None,
    ) -> None:
        if path in self._baselines or path in self._skipped or path in self._inherited:
            return
        if self._ignored(path):
            self._skipped.add(path)
            return
        if taken_ns is None:
            taken_ns = time.time_ns()
        if signature is None:
            try:
                st = self._stat(path)
            except (OSError, ValueError):
                if not even_if_missing:
                    return
            else:
                if _stat.S_ISDIR(st.st_mode):
                    self._skipped.add(path)
                    return
                signature = signature_of(st)
        self._baselines.add(path, signature, taken_ns, every_pass=even_if_missing)
        if own and self._own is not None:
            self._own.add(path)

    def _set_aside(self, path: str) -> None:
        self._baselines.forget(path)
        self._skipped.add(path)

    def _expand(self, pattern: str) -> List[str]:
        matches, cut_off = _patterns.expand(pattern)
        if cut_off and pattern not in self.glob_overflow:
            self.glob_overflow.append(pattern)
        return matches

    # -- what changed ------------------------------------------------------

    def scan(self) -> List[str]:
        """One pass: the files whose signature differs from their baseline.

        The new signature becomes the baseline, so each change is reported once.
        """
        with self._lock:
            return [path for path, _ in self._scan()]

    def _scan(self) -> List[Tuple[str, int]]:
        self._refresh()
        if self._globs:
            expanded_ns = time.time_ns()
            for pattern in self._globs:
                for match in self._expand(pattern):
                    if match not in self._baselines and match not in self._skipped:
                        # A new match appeared since the last expansion: it was
                        # absent then, which is its baseline.
                        self._add(match, None, own=False, taken_ns=self._expanded_ns)
                        self._baselines.mark_absent(match)
            self._expanded_ns = expanded_ns
        return self._baselines.changed()

    def _changes(self) -> List[str]:
        """One pass, with the files the app rewrote since their baseline set aside."""
        changed = []
        others: Optional[Set[str]] = None
        for path, baseline_ns in self._scan():
            if not self._writes.after(path, baseline_ns):
                if others is None:
                    others = set(self._written_by_others())
                if path not in others:
                    changed.append(path)
                    continue
            self._set_aside(path)
            self.rewritten_by_app.append(path)
        return changed

    def check(self) -> List[str]:
        """One scan; on a change, every file of its burst once the burst has ended.

        A file the app writes itself is never a change to reload for: reacting
        to it would reload forever. It is set aside and listed in
        ``rewritten_by_app`` instead.
        """
        with self._lock:
            changed = self._changes()
            if not changed:
                return []
            return settle_burst(changed, self._changes, self._clock, self._sleep, self.settle, self.settle_limit)
