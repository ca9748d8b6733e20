"""Reload uWSGI when a file of the app changes, also after a typo broke the app.

Add ``import = uwsgi_reload`` to the ``[uwsgi]`` section of the ini file (with
``master = true``). Outside uWSGI the module only warns once, and the functions
below still work, e.g. from a gunicorn ``when_ready`` thread.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any, Callable, List, Optional

from . import _hooks
from ._scanner import Watcher

__all__ = ["code_changed", "live_reload", "watch", "watched_files", "__version__"]
__version__ = "1.1.0"

# One watcher per process: every import of this module, from the ini and from
# app code alike, shares it (the module body runs once).
_watcher = Watcher()


def code_changed() -> bool:
    """One scan of every module's source, the extra files and the files whose
    import failed; True when one of them changed since the last call.

    The old ``django.utils.autoreload.code_changed()`` contract, as the classic
    ``@timer(3)`` recipe calls it: True from the very call that sees the
    change. That call returns once the burst of edits it belongs to has ended
    (0.1 s without a change, 3 s at most), so a ``git checkout`` is one True.
    """
    return bool(_watcher.check())


def watch(*paths_or_globs: str) -> None:
    """Also watch these files; globs are expanded again at every scan."""
    _watcher.watch(*paths_or_globs)


def watched_files() -> List[str]:
    """The absolute paths watched now, sorted."""
    return _watcher.watched_files()


def live_reload(app: Callable[..., Any]) -> Callable[..., Any]:
    """The WSGI app *app*, wrapped for ``uwsgi-reload-browser = true`` when that is on.

    Only needed where the ini cannot wrap the app itself (``paste =``,
    ``mount =``, ...): ``application = uwsgi_reload.live_reload(application)``.
    Anywhere else, and with the key off, it returns *app* unchanged.
    """
    browser = sys.modules.get(__name__ + "._uwsgi_browser")
    active = browser.active() if browser is not None else None  # type: ignore[attr-defined]
    return active.wrap(app) if active is not None else app


def _activate() -> Optional[object]:
    try:
        import uwsgi  # noqa: F401  (only exists inside a uWSGI process)
    except ImportError:
        # While `python -m uwsgi_reload` locates its module, sys.argv[0] is
        # "-m" (documented in sys.argv): the command line needs no warning.
        if sys.argv[:1] != ["-m"]:
            warnings.warn(
                "uwsgi_reload is inactive: this process is not running under uWSGI. "
                "code_changed(), watch() and watched_files() still work.",
                RuntimeWarning,
                stacklevel=3,
            )
        _hooks.install(_watcher)
        return None
    from ._uwsgi import activate

    return activate(_watcher)


_reloader = _activate()
