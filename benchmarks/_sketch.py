"""The scan loop recommended for ``Watcher._scan``, measured by scan_cost.py before adoption.

Two changes, each shown by its own row in the table:

1. Hot path in C: ``map(os.stat)`` and one attribute per file, ``st_ctime_ns``,
   compared as whole lists. On Linux every write, truncate, utime (an mtime
   moved backwards too) and rename onto the path gives the file a new ctime, so
   only files whose ctime moved get their full (mtime, size, inode) signature
   compared: what counts as a change stays exactly uwsgi_reload's rule. A
   missing file makes ``map`` raise; that scan falls back to a per-file loop.
2. Library files (under sysconfig's stdlib/purelib/platlib paths) are split
   into ``library_slices`` slices and each scan visits one slice, so a library
   file is seen at least every ``library_slices`` scans: bounded staleness for
   the files nobody edits, every scan for the app's own.
"""

from __future__ import annotations

import operator
import os
import sysconfig
from typing import List, Optional, Tuple

_CTIME = operator.attrgetter("st_ctime_ns")
LIBRARY_DIRS = tuple(
    sorted({os.path.join(sysconfig.get_path(key), "") for key in ("stdlib", "platstdlib", "purelib", "platlib")})
)


def _ctime(path: str) -> Optional[int]:
    try:
        return os.stat(path).st_ctime_ns
    except (OSError, ValueError):
        return None


def _signature(path: str) -> Optional[Tuple[int, int, int]]:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class _Group:
    """Files stat()ed together, with their ctimes and full signatures."""

    def __init__(self, paths: List[str]) -> None:
        self.paths = paths
        self.ctimes = [_ctime(path) for path in paths]
        self.signatures = [_signature(path) for path in paths]

    def changed(self) -> List[str]:
        try:
            ctimes = list(map(_CTIME, map(os.stat, self.paths)))
        except (OSError, ValueError):
            ctimes = [_ctime(path) for path in self.paths]
        if ctimes == self.ctimes:
            return []
        changed = []
        for index, (old, new) in enumerate(zip(self.ctimes, ctimes)):
            if old != new:
                signature = _signature(self.paths[index])
                if signature != self.signatures[index]:
                    self.signatures[index] = signature
                    changed.append(self.paths[index])
        self.ctimes = ctimes
        return changed


class SketchScanner:
    def __init__(self, paths: List[str], library_slices: int = 1) -> None:
        library = [path for path in paths if path.startswith(LIBRARY_DIRS)]
        self.app = _Group([path for path in paths if not path.startswith(LIBRARY_DIRS)])
        self.library = [_Group(library[index::library_slices]) for index in range(library_slices)]
        self.scans = 0

    def scan(self) -> List[str]:
        library = self.library[self.scans % len(self.library)]
        self.scans += 1
        return self.app.changed() + library.changed()
