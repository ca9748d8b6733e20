"""The classic poller, as CherryPy and Django 1.x shipped it, for comparison only.

Rewritten from its description (not copied): every call walks ``sys.modules``,
maps ``.pyc``/``.pyo`` to ``.py``, stats each file and compares its mtime with
a module-global dict; the first reading of a file is its baseline. It is the
function people call from a uWSGI ``@timer``; see ``instance.py``.
"""

import os
import sys

_mtimes = {}
_error_files = []
_win = sys.platform == "win32"


def code_changed():
    global _mtimes
    filenames = [getattr(module, "__file__", None) for module in list(sys.modules.values())]
    for filename in [name for name in filenames if isinstance(name, str)] + _error_files:
        if filename.endswith((".pyc", ".pyo")):
            filename = filename[:-1]
        try:
            stat = os.stat(filename)
        except OSError:
            continue
        mtime = stat.st_mtime
        if _win:
            mtime -= stat.st_ctime
        if filename not in _mtimes:
            _mtimes[filename] = mtime
            continue
        if mtime != _mtimes[filename]:
            _mtimes = {}
            if filename in _error_files:
                _error_files.remove(filename)
            return True
    return False


def watched_count():
    return len(_mtimes)
