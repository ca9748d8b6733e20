"""What the apps of realapps.py share: how they are described, written and prepared.

_realapps_django.py and _realapps_flask.py hold the apps' sources; each app
answers ``/health/`` with text from modules the benchmark rewrites (``EditTarget``).
"""

from __future__ import annotations

import os
import string
import subprocess
import sys
from typing import Dict, NamedTuple, Tuple

BIN = os.path.dirname(sys.executable)

#: Set in the server's environment, the app starts, on its first request, a
#: non-daemon thread that never ends: an APM or metrics agent, a queue consumer.
AGENT_THREAD = "REALAPPS_AGENT_THREAD"

#: Appended to each app's WSGI module.
AGENT_WRAPPER = '''

if os.environ.get("%s"):
    import threading
    import time

    def _agent():
        while True:
            time.sleep(0.1)

    def _with_agent(app):
        started = []

        def wrapped(environ, start_response):
            if not started:
                started.append(threading.Thread(target=_agent, name="agent").start())
            return app(environ, start_response)

        return wrapped
''' % AGENT_THREAD


#: Set in the server's environment, the WSGI module also imports, in the
#: master, the libraries that the workers would otherwise import after the
#: fork, on their first request: the README's tip for Django.
PRELOAD = "REALAPPS_PRELOAD"


class EditTarget(NamedTuple):
    """A module the benchmark rewrites: ``template`` has a ``$token`` to replace."""

    path: str  # relative to the app's folder
    imported_by: str  # who imports it, which decides which reloader path sees it
    template: str

    def write(self, folder: str, token: str, serial: int) -> None:
        """Write the module with *token*. The trailing padding gives every version
        its own size, so a stale .pyc (checked by whole-second mtime and size) is
        never taken for it."""
        source = string.Template(self.template).substitute(token=token)
        with open(os.path.join(folder, self.path), "w") as module:
            module.write(source + "# edit %d %s\n" % (serial, "." * serial))


class App(NamedTuple):
    title: str
    folder: str
    wsgi: str  # module:callable, for uWSGI and gunicorn
    health: str  # the path whose body holds the tokens
    load_paths: Tuple[str, ...]  # pages the background clients cycle through
    targets: Tuple[EditTarget, ...]
    devserver: Tuple[str, ...]  # argv of the framework's reloading dev server; {port} filled in
    devserver_label: str
    preloads: bool = False  # its WSGI module has imports to make under PRELOAD


def write_files(folder: str, files: Dict[str, str]) -> None:
    for relative, text in files.items():
        path = os.path.join(folder, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as out:
            out.write(text)


def run_in(folder: str, *argv: str) -> None:
    """Run a setup command of the app; its output only matters when it fails."""
    done = subprocess.run(argv, cwd=folder, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError("%s failed in %s:\n%s%s" % (" ".join(argv), folder, done.stdout, done.stderr))


def compile_tree(folder: str) -> None:
    """Compile once, like an app that has run before: a reload then costs what it costs users."""
    run_in(folder, sys.executable, "-m", "compileall", "-q", ".")
