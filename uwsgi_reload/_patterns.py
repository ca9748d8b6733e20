"""Glob patterns: the ignore rules, and extra-file globs expanded at every scan. Pure."""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from typing import Callable, List, Optional

#: A glob that matches more files than this is cut off, so that a pattern such as
#: ``/**`` cannot freeze the worker that expands it at every scan.
GLOB_MATCH_LIMIT = 10_000

_MAGIC = re.compile(r"[*?[]")


def is_glob(path: str) -> bool:
    return bool(_MAGIC.search(path))


class IgnoreRules:
    """Patterns of files never to watch, compiled into one regex per kind.

    A pattern with a slash matches the whole absolute path; a bare one
    (``*.log``) matches the file name in any folder.
    """

    def __init__(self) -> None:
        self.patterns: List[str] = []
        self._match: Optional[Callable[[str], bool]] = None

    def add(self, *patterns: str) -> None:
        self.patterns.extend(patterns)
        full = [fnmatch.translate(os.path.abspath(p)) for p in self.patterns if "/" in p or os.sep in p]
        names = [fnmatch.translate(p) for p in self.patterns if "/" not in p and os.sep not in p]
        full_re = re.compile("|".join(full)).match if full else None
        name_re = re.compile("|".join(names)).match if names else None

        def match(path: str) -> bool:
            return bool(
                (full_re is not None and full_re(path))
                or (name_re is not None and name_re(os.path.basename(path)))
            )

        self._match = match if self.patterns else None

    def __call__(self, path: str) -> bool:
        return self._match is not None and self._match(path)


def expand(pattern: str) -> "tuple[List[str], bool]":
    """The files and folders matching *pattern* (``**`` recurses), and whether it was cut off."""
    matches = []
    for match in glob.iglob(pattern, recursive=True):
        if len(matches) >= GLOB_MATCH_LIMIT:
            return matches, True
        matches.append(match)
    return matches, False
