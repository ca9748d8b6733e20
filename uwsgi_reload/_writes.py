"""Files the app writes itself: a change to one of those must not reload. Pure."""

from __future__ import annotations

import os
import time
from typing import Dict, Iterable, Set


class AppWrites:
    """When this process last opened each file for writing.

    Only a write after a file's baseline can be the app rewriting it (a log,
    a generated module, a sqlite file next to the code): one made before it
    (a ``local_settings.py`` generated, then imported) is the state the app
    started from, and a later edit of that file is the user's.
    """

    def __init__(self) -> None:
        self._opened_ns: Dict[str, int] = {}
        # Written where the audit hook cannot see: uWSGI's own log files,
        # written from C, and files other workers of the instance set aside.
        self._always: Set[str] = set()

    def note(self, path: str) -> None:
        """Called from the audit hook in any thread: one dict store, never blocks."""
        self._opened_ns[os.path.abspath(path)] = time.time_ns()

    def always(self, paths: Iterable[str]) -> None:
        self._always.update(os.path.abspath(path) for path in paths)

    def after(self, path: str, baseline_ns: int) -> bool:
        """True when the app may have written *path* since its baseline was read."""
        return path in self._always or self._opened_ns.get(path, -1) >= baseline_ns
