"""The baseline of every watched file, and one pass that finds what differs. Pure."""

from __future__ import annotations

import os
import time
from typing import Callable, Dict, Iterable, List, Tuple

from ._sources import Signature, signature_of

#: Files under the standard library and site-packages are rarely edited: each
#: scan visits only a rotating slice of them, so that each one is visited once
#: every RARELY_EDITED_SWEEP scans. Their staleness is bounded by that many
#: intervals; they are never dropped. Everything else is visited every scan.
RARELY_EDITED_SWEEP = 10


def rarely_edited_roots() -> Tuple[str, ...]:
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    if hasattr(site, "getsitepackages"):  # absent in some old virtualenvs
        roots.update(site.getsitepackages())
    return tuple(sorted({os.path.join(os.path.abspath(root), "") for root in roots}))


class Baselines:
    """Path → signature, in two tiers: app files every pass, library files by slices.

    ``taken_ns`` remembers when each baseline was read, so that a write the
    app made before it (a file generated, then imported) is told apart from
    one made after (a file the app keeps rewriting).
    """

    def __init__(self, stat: Callable[[str], os.stat_result], rarely_edited: Tuple[str, ...]) -> None:
        self._stat = stat
        self._rarely_edited = rarely_edited
        self._often: Dict[str, Signature] = {}
        self._rarely: Dict[str, Signature] = {}
        self._rarely_order: List[str] = []
        self._sweep_start = 0
        self.taken_ns: Dict[str, int] = {}

    def __contains__(self, path: str) -> bool:
        return path in self._often or path in self._rarely

    def paths(self) -> List[str]:
        return list(self._often) + list(self._rarely)

    def add(self, path: str, signature: Signature, taken_ns: int, every_pass: bool = False) -> None:
        if path.startswith(self._rarely_edited) and not every_pass:
            self._rarely[path] = signature
            self._rarely_order.append(path)
        else:
            self._often[path] = signature
        self.taken_ns[path] = taken_ns

    def mark_absent(self, path: str) -> None:
        """Make the next pass report *path* (a glob match that just appeared)."""
        if path in self._often:
            self._often[path] = None

    def forget(self, path: str) -> None:
        self._often.pop(path, None)
        if self._rarely.pop(path, False) is not False:
            self._rarely_order.remove(path)
        self.taken_ns.pop(path, None)

    def clear(self) -> None:
        self._often.clear()
        self.drop_rarely_edited()
        self.taken_ns.clear()

    def drop_rarely_edited(self) -> None:
        """Forget the library tier: another process scans it."""
        for path in self._rarely_order:
            self.taken_ns.pop(path, None)
        self._rarely.clear()
        self._rarely_order.clear()
        self._sweep_start = 0

    def changed(self) -> List[Tuple[str, int]]:
        """One pass: each file whose signature differs, with when its baseline was read.

        The new signature becomes the file's baseline, read now.
        """
        changed = self._differing(self._often.items())
        if self._rarely_order:
            # Slices of ceil(n / sweep), restarting at 0 after the one that
            # reaches the end: every file is visited once per sweep passes.
            size = -(-len(self._rarely_order) // RARELY_EDITED_SWEEP)
            start = self._sweep_start if self._sweep_start < len(self._rarely_order) else 0
            self._sweep_start = start + size
            rarely = self._rarely
            sweep = self._rarely_order[start : start + size]
            changed += self._differing((path, rarely[path]) for path in sweep)
        now = time.time_ns()
        found = []
        for path, new in changed:
            (self._often if path in self._often else self._rarely)[path] = new
            found.append((path, self.taken_ns.get(path, 0)))
            self.taken_ns[path] = now
        return found

    def _differing(self, baselines: Iterable[Tuple[str, Signature]]) -> List[Tuple[str, Signature]]:
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
