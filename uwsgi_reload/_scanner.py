"""What changed on disk: the pure core of uwsgi_reload.

Nothing here imports ``uwsgi``: the scanner takes modules, paths and globs, and
answers which files changed since their baseline. The uWSGI layer only decides
when to call it.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import stat as _stat
import sys
import threading
import time
import zipimport
from collections import deque
from typing import Any, Callable, Deque, Dict, Iterable, List, Mapping, Optional, Set, Tuple

# (mtime term in ns, size, inode); None when the file cannot be stat()ed.
Signature = Optional[Tuple[int, int, int]]

#: A glob that matches more files than this is cut off, so that a pattern such as
#: ``/**`` cannot freeze the worker that expands it at every scan.
GLOB_MATCH_LIMIT = 10_000

_MAGIC = re.compile(r"[*?[]")
_WINDOWS = sys.platform == "win32"

#: Files under the standard library and site-packages are rarely edited: each
#: scan visits only a rotating slice of them, so that each one is visited once
#: every RARELY_EDITED_SWEEP scans. Their staleness is bounded by that many
#: intervals; they are never dropped. Everything else is visited every scan.
RARELY_EDITED_SWEEP = 10


def _rarely_edited_roots() -> Tuple[str, ...]:
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    if hasattr(site, "getsitepackages"):  # absent in some old virtualenvs
        roots.update(site.getsitepackages())
    return tuple(sorted({os.path.join(os.path.abspath(root), "") for root in roots}))


def signature_of(stat_result: os.stat_result) -> Tuple[int, int, int]:
    """The stat signature two readings of one file are compared by."""
    mtime = stat_result.st_mtime_ns
    if _WINDOWS:
        # The classic recipe's adjustment: on Windows st_ctime is the creation
        # time, which a save-by-replace changes while mtime may be preserved.
        mtime -= stat_result.st_ctime_ns
    return (mtime, stat_result.st_size, stat_result.st_ino)


def read_signature(path: str, stat: Callable[[str], os.stat_result] = os.stat) -> Signature:
    try:
        return signature_of(stat(path))
    except (OSError, ValueError):
        # ValueError: embedded NUL byte. Either way there is nothing to stat.
        return None


def _as_path(value: Any) -> Optional[str]:
    """A usable absolute path from a ``__file__``-like value, or None."""
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    elif not isinstance(value, str):
        try:
            value = os.fspath(value)
        except TypeError:
            return None
        if not isinstance(value, str):
            return _as_path(value)
    if not value or "\0" in value:
        return None
    # A wsgi-file module keeps a relative __file__ and uWSGI may chdir later.
    return os.path.abspath(value)


def module_source(module: Any) -> Optional[str]:
    """The file whose edit should reload *module*: its source, else what it was loaded from.

    Never raises: ``sys.modules`` may hold lazy modules whose attribute access
    fails, weakref proxies, or objects that are not modules at all.
    """
    try:
        loader = getattr(module, "__loader__", None)
        if isinstance(loader, zipimport.zipimporter):
            return _as_path(loader.archive)
        path = _as_path(getattr(module, "__file__", None))
    except Exception:
        return None
    if path is None:
        return None
    if path.endswith((".pyc", ".pyo")):
        return _source_of_bytecode(path)
    return path


def _source_of_bytecode(path: str) -> str:
    """``__pycache__/m.cpython-311.pyc`` and legacy ``m.pyc`` map to ``m.py`` when it exists."""
    import importlib.util

    try:
        source = importlib.util.source_from_cache(path)
    except ValueError:
        source = path[:-1]
    # A sourceless (.pyc-only) module is watched through its bytecode file.
    return source if os.path.exists(source) else path


def _compile_globs(patterns: Iterable[str]) -> Optional[Callable[[str], Any]]:
    """One regex for all ignore patterns; those without a slash match the file name."""
    full, name_only = [], []
    for pattern in patterns:
        if os.sep in pattern or "/" in pattern:
            full.append(fnmatch.translate(os.path.abspath(pattern)))
        else:
            name_only.append(fnmatch.translate(pattern))
    if not full and not name_only:
        return None
    full_re = re.compile("|".join(full)).match if full else None
    name_re = re.compile("|".join(name_only)).match if name_only else None

    def ignored(path: str) -> bool:
        return bool(
            (full_re is not None and full_re(path))
            or (name_re is not None and name_re(os.path.basename(path)))
        )

    return ignored


class Watcher:
    """The watched files of one process and their baselines.

    ``scan()`` is one pass over every watched file; ``check()`` is one pass plus
    burst settling: it reports a burst of changes once, after no further change
    has been seen for ``settle`` seconds (or ``settle_limit`` after the first
    change, so a file written without pause still reloads).

    Thread safety: every method takes one re-entrant lock, except
    ``note_import``: it only queues its path, so an import in one thread never
    waits for a scan in another. The queue is drained under the lock.
    """

    def __init__(
        self,
        modules: Mapping[str, Any] = sys.modules,
        *,
        extra: Iterable[str] = (),
        ignore: Iterable[str] = (),
        # A git checkout or an editor's "save all" writes its files within
        # milliseconds of each other, so 0.1 s of quiet ends a burst, and it
        # is all a single save pays. Files written while the reload runs are
        # simply loaded by the new master.
        settle: float = 0.1,
        settle_limit: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
        stat: Callable[[str], os.stat_result] = os.stat,
    ) -> None:
        self._modules = modules
        self._stat = stat
        self._clock = clock
        self.settle = settle
        self.settle_limit = settle_limit
        self._ignore_patterns = list(ignore)
        self._ignored = _compile_globs(self._ignore_patterns)
        # Re-entrant: a lazy module's __getattr__, run by a scan, may call watch().
        self._lock = threading.RLock()
        # Paths noted by the import system, with their signature then.
        self._inbox: Deque[Tuple[str, Signature]] = deque()
        self._globs: List[str] = []
        # Baselines, split by how often the file is likely to be edited.
        self._often: Dict[str, Signature] = {}
        self._rarely: Dict[str, Signature] = {}
        self._rarely_order: List[str] = []
        self._sweep_start = 0
        self._rarely_edited = _rarely_edited_roots()
        self._module_names: Set[str] = set()
        self._modules_len = -1
        self._skipped: Set[str] = set()
        self._pending: Set[str] = set()
        # Files this process (or the master it was forked from) wrote itself.
        self._written_by_app: Set[str] = set()
        #: Changed files set aside because the app writes them itself, for the
        #: host to report; see check().
        self.rewritten_by_app: List[str] = []
        self._burst_start = 0.0
        self._last_change = 0.0
        #: Globs cut off at GLOB_MATCH_LIMIT matches, for the host to report.
        self.glob_overflow: List[str] = []
        # Files first seen later but modified after this moment were edited
        # after their module loaded, for all we know: see _refresh.
        self._started_ns = time.time_ns()
        self._past_first_refresh = False
        self.watch(*extra)
        with self._lock:
            self._refresh()
        self._past_first_refresh = True

    # -- what is watched -------------------------------------------------

    def watch(self, *paths_or_globs: str) -> None:
        """Watch extra files; a glob is expanded now and again at every scan."""
        with self._lock:
            for item in paths_or_globs:
                if item:
                    self._watch(os.path.abspath(os.path.expanduser(item)))

    def watch_error_file(self, path: str) -> None:
        """Watch a file whose import failed; it is in no module's ``__file__``."""
        with self._lock:
            self._add(os.path.abspath(path), None, even_if_missing=True)

    def _watch(self, path: str) -> None:
        if not _MAGIC.search(path):
            self._add(path, None, even_if_missing=True)
        elif path not in self._globs:
            self._globs.append(path)
            for match in self._expand(path):
                self._add(match, None)

    def note_import(self, path: str, signature: Signature) -> None:
        """Record *path* as the import system read it.

        This reading is the file's baseline: an edit made before the next scan
        is then a change, not the new baseline. Files whose import failed are
        watched too, so fixing them reloads.
        """
        self._inbox.append((os.path.abspath(path), signature))

    def note_write(self, path: str) -> None:
        """Record that the app itself opened *path* for writing. Never blocks."""
        self._written_by_app.add(os.path.abspath(path))

    def forget_inherited(self) -> None:
        """Drop everything watched so far; keep only what appears from now on.

        A worker forked from a master watches just the modules it imports
        itself: the inherited ones are scanned once for the instance elsewhere.
        """
        with self._lock:
            self._refresh()
            self._often.clear()
            self._rarely.clear()
            self._rarely_order.clear()
            self._globs.clear()
            self._pending.clear()

    def ignore(self, *patterns: str) -> None:
        """Never watch files matching these globs (a bare name matches any directory)."""
        if not patterns:
            return
        with self._lock:
            self._ignore_patterns.extend(patterns)
            self._ignored = _compile_globs(self._ignore_patterns)
            for path in [path for path in self._watched() if self._ignored(path)]:
                self._forget(path)

    def watched_files(self) -> List[str]:
        with self._lock:
            self._refresh()
            return sorted(self._watched())

    def why_not_watched(self, path: str) -> str:
        """Why *path* is not watched, or '' when it is."""
        path = os.path.abspath(path)
        with self._lock:
            self._refresh()
            if path in self._often or path in self._rarely:
                return ""
        if self._ignored is not None and self._ignored(path):
            return "ignored: it matches uwsgi-reload-ignore (%s)" % " ".join(self._ignore_patterns)
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
            self._add(*self._inbox.popleft())
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
                        self._add(path, None, late=self._past_first_refresh)

    def _add(self, path: str, signature: Signature, even_if_missing: bool = False, late: bool = False) -> None:
        if path in self._often or path in self._rarely or path in self._skipped:
            return
        if self._ignored is not None and self._ignored(path):
            self._skipped.add(path)
            return
        if signature is None:
            try:
                st = self._stat(path)
            except (OSError, ValueError):
                if even_if_missing:
                    self._often[path] = None
                return
            if _stat.S_ISDIR(st.st_mode):
                self._skipped.add(path)
                return
            signature = signature_of(st)
            if late and not _WINDOWS and self._started_ns < signature[0] <= time.time_ns():
                # Loaded by something that bypasses the import system (uWSGI's
                # wsgi-file loader) and modified since we started watching: the
                # edit may have come after the load, so treat it as a change.
                signature = None
        if path.startswith(self._rarely_edited) and not even_if_missing:
            self._rarely[path] = signature
            self._rarely_order.append(path)
        else:
            self._often[path] = signature

    def _watched(self) -> List[str]:
        return list(self._often) + list(self._rarely)

    def _forget(self, path: str) -> None:
        self._often.pop(path, None)
        if self._rarely.pop(path, False) is not False:
            self._rarely_order.remove(path)
        self._pending.discard(path)
        self._skipped.add(path)

    def _expand(self, pattern: str) -> List[str]:
        matches = []
        for match in glob.iglob(pattern, recursive=True):
            if len(matches) >= GLOB_MATCH_LIMIT:
                if pattern not in self.glob_overflow:
                    self.glob_overflow.append(pattern)
                break
            matches.append(match)
        return matches

    # -- what changed ------------------------------------------------------

    def scan(self) -> List[str]:
        """One pass: the files whose signature differs from their baseline.

        The new signature becomes the baseline, so each change is reported once.
        """
        with self._lock:
            return self._scan()

    def _scan(self) -> List[str]:
        self._refresh()
        often = self._often
        for pattern in self._globs:
            for match in self._expand(pattern):
                if match not in often and match not in self._skipped:
                    # A new match appeared since the last scan: it was absent.
                    self._add(match, None)
                    if match in often:
                        often[match] = None
        changed = self._changed(often.items())
        if self._rarely_order:
            # Slices of ceil(n / sweep), restarting at 0 after the one that
            # reaches the end: every file is visited once per sweep scans.
            size = -(-len(self._rarely_order) // RARELY_EDITED_SWEEP)
            start = self._sweep_start if self._sweep_start < len(self._rarely_order) else 0
            self._sweep_start = start + size
            rarely = self._rarely
            sweep = self._rarely_order[start : start + size]
            changed_rarely = self._changed((path, rarely[path]) for path in sweep)
            rarely.update(changed_rarely)
            changed += changed_rarely
        often.update(pair for pair in changed if pair[0] in often)
        return [path for path, _ in changed]

    def _changed(self, baselines: Iterable[Tuple[str, Signature]]) -> List[Tuple[str, Signature]]:
        """(path, new signature) for each file whose signature differs from its baseline."""
        changed = []
        stat = self._stat
        for path, old in baselines:
            try:
                st = stat(path)
            except (OSError, ValueError):
                if old is not None:
                    changed.append((path, None))
                continue
            # Field by field: building a tuple per file costs ~10% over stat().
            if old is None or st.st_mtime_ns != old[0] or st.st_size != old[1] or st.st_ino != old[2]:
                new = signature_of(st)  # the win32 mtime term differs from st_mtime_ns
                if new != old:
                    changed.append((path, new))
        return changed

    @property
    def pending(self) -> bool:
        """True while a burst of changes waits to settle."""
        return bool(self._pending)

    def check(self) -> List[str]:
        """One scan; the settled changes of a burst, once, else an empty list.

        A file the app writes itself is never a change to reload for: reacting
        to it would reload forever. It is set aside and listed in
        ``rewritten_by_app`` instead.
        """
        with self._lock:
            now = self._clock()
            changed = []
            for path in self._scan():
                if path in self._written_by_app:
                    self._forget(path)
                    self.rewritten_by_app.append(path)
                else:
                    changed.append(path)
            if changed:
                if not self._pending:
                    self._burst_start = now
                self._pending.update(changed)
                self._last_change = now
            if self._pending and (
                now - self._last_change >= self.settle
                or now - self._burst_start >= self.settle_limit
            ):
                settled = sorted(self._pending)
                self._pending.clear()
                return settled
            return []
