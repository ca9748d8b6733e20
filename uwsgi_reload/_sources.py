"""Which file stands for a module, and how two readings of a file are compared.

Pure: takes module objects and paths, never imports ``uwsgi``.
"""

from __future__ import annotations

import importlib.util
import os
import stat as _stat
import sys
import zipimport
from typing import Any, Callable, Iterable, Iterator, List, Optional, Tuple

# (mtime term in ns, size, inode); None when the file cannot be stat()ed.
Signature = Optional[Tuple[int, int, int]]

_WINDOWS = sys.platform == "win32"


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


def usable_path(value: Any) -> Optional[str]:
    """An absolute path from a ``__file__``-like or user-given value, or None.

    None for anything no file can have: not path-like, empty, or with a NUL byte.
    """
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    elif not isinstance(value, str):
        try:
            value = os.fspath(value)
        except TypeError:
            return None
        if not isinstance(value, str):
            return usable_path(value)
    if not value or "\0" in value:
        return None
    # A wsgi-file module keeps a relative __file__ and uWSGI may chdir later.
    return os.path.abspath(value)


def module_source(module: Any) -> Optional[str]:
    """The file whose edit should reload *module*: its source, else what it was loaded from.

    Never raises, whatever ``sys.modules`` holds: lazy modules whose attribute
    access fails (even with SystemExit), weakref proxies, non-modules.
    """
    try:
        loader = getattr(module, "__loader__", None)
        if isinstance(loader, zipimport.zipimporter):
            return usable_path(loader.archive)
        path = usable_path(getattr(module, "__file__", None))
    except KeyboardInterrupt:
        raise
    except BaseException:
        return None
    if path is None:
        return None
    if path.endswith((".pyc", ".pyo")):
        return _source_of_bytecode(path)
    if not os.path.exists(path):
        # Loaded from inside an archive by a loader other than zipimport
        # (importlib.resources readers, pkg_resources, zipapp tools): the
        # archive is the file an edit changes.
        return _enclosing_archive(path) or path
    return path


def _source_of_bytecode(path: str) -> str:
    """``__pycache__/m.cpython-311.pyc`` and legacy ``m.pyc`` map to ``m.py`` when it exists."""
    try:
        source = importlib.util.source_from_cache(path)
    except ValueError:
        source = path[:-1]
    # A sourceless (.pyc-only) module is watched through its bytecode file.
    return source if os.path.exists(source) else path


def _enclosing_archive(path: str) -> Optional[str]:
    """The regular file that a path such as ``/lib/app.zip/pkg/mod.py`` lies inside."""
    parent = os.path.dirname(path)
    while parent and parent != os.path.dirname(parent):
        try:
            mode = os.stat(parent).st_mode
        except OSError:
            parent = os.path.dirname(parent)
            continue
        return parent if _stat.S_ISREG(mode) else None
    return None


def missing_module_files(name: str, search_path: Iterable[str]) -> Iterator[str]:
    """Where a module that could not be found would be, once someone creates it.

    ``import helper`` failing after ``helper.py`` was deleted names only the
    importer in its traceback: watching these paths makes recreating the file
    a change.
    """
    parts = name.split(".")
    for entry in search_path:
        if not isinstance(entry, str):
            continue
        base = os.path.join(os.path.abspath(entry or os.curdir), *parts)
        yield base + ".py"
        yield os.path.join(base, "__init__.py")


def missing_modules_of(error: BaseException) -> List[str]:
    """The names of the modules an exception (or its causes) could not find."""
    names = []
    seen = set()
    while isinstance(error, BaseException) and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ModuleNotFoundError) and isinstance(error.name, str) and error.name:
            names.append(error.name)
        error = error.__cause__ or error.__context__
    return names
