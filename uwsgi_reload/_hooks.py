"""Where baselines and failed imports come from: the import system and sys.excepthook.

Both hooks only record paths into a Watcher; neither imports ``uwsgi``.
"""

from __future__ import annotations

import os
import sys
import traceback
from importlib.machinery import SourceFileLoader
from types import TracebackType
from typing import Any, Callable, Iterator, Optional, Tuple, Type

from ._scanner import Watcher
from ._sources import missing_modules_of, read_signature


def install(watcher: Watcher) -> None:
    """All three hooks, once reloading is really wanted: the audit hook can
    never be removed, so a server with uwsgi-reload = false gets none."""
    record_imports(watcher)
    record_failed_imports(watcher)
    record_writes(watcher)


def record_imports(watcher: Watcher) -> None:
    """Give every source file imported from now on its import-time baseline.

    ``SourceFileLoader.path_stats`` is the one call the import system makes on
    a source file as it imports it (to validate the bytecode cache), in every
    Python since 3.3. Recording there costs one stat per import and nothing per
    scan, and also catches files whose import then fails.
    """
    original = SourceFileLoader.path_stats
    if getattr(original, "_uwsgi_reload_watcher", None) is not None:
        original._uwsgi_reload_watcher = watcher  # type: ignore[attr-defined]
        return

    def path_stats(self: SourceFileLoader, path: str) -> dict:
        stats = original(self, path)
        # py_compile and compileall use a loader named "<py_compile>" to
        # write bytecode: that file is compiled, not imported.
        if not str(getattr(self, "name", "")).startswith("<"):
            path_stats._uwsgi_reload_watcher.note_import(path, read_signature(path))  # type: ignore[attr-defined]
        return stats

    path_stats._uwsgi_reload_watcher = watcher  # type: ignore[attr-defined]
    SourceFileLoader.path_stats = path_stats  # type: ignore[method-assign]


def files_of_exception(value: BaseException) -> Iterator[str]:
    """The files an exception points at: a SyntaxError's file, then its traceback's."""
    filename = getattr(value, "filename", None) if isinstance(value, SyntaxError) else None
    if isinstance(filename, str) and not filename.startswith("<"):
        yield filename
    for frame in traceback.extract_tb(value.__traceback__):
        if frame.filename and not frame.filename.startswith("<"):
            yield frame.filename


def record_failed_imports(watcher: Watcher) -> None:
    """Watch the files of every exception that reaches sys.excepthook.

    uWSGI reports an app that failed to load, and an exception in a request,
    with PyErr_Print(), which calls sys.excepthook: the wsgi-file that does
    not compile is only known from here, since uWSGI loads it without the
    import system, and so is a module that was deleted (only the importer is
    in the traceback of its ModuleNotFoundError).
    """
    previous: Callable[[Type[BaseException], BaseException, Optional[TracebackType]], object]
    previous = sys.excepthook

    def excepthook(
        exc_type: Type[BaseException], value: BaseException, tb: Optional[TracebackType]
    ) -> None:
        try:
            for path in files_of_exception(value):
                watcher.watch_error_file(path)
            for name in missing_modules_of(value):
                watcher.watch_for_missing_module(name)
        except Exception:
            pass  # the report below matters more than our bookkeeping
        previous(exc_type, value, tb)

    sys.excepthook = excepthook


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def record_writes(watcher: Watcher) -> None:
    """Tell the watcher about every file this process opens for writing.

    An app that rewrites a watched file (a generated module, a log or a sqlite
    file next to the code) would otherwise reload itself forever. The "open"
    audit event (PEP 578) covers open(), io.open(), os.open() and pathlib;
    "sqlite3.connect" covers sqlite, which writes from C. Audit hooks cannot be
    removed, so this one does nothing for every other event.
    """

    def audit(event: str, args: Tuple[Any, ...]) -> None:
        if event == "open":
            path, flags = args[0], args[2]
            if not isinstance(flags, int) or not flags & _WRITE_FLAGS:
                return
        elif event == "sqlite3.connect":
            path = args[0]
        else:
            return
        if isinstance(path, (str, bytes)):
            watcher.note_write(os.fsdecode(path))

    sys.addaudithook(audit)
