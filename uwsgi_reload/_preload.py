"""New workers start with the libraries earlier workers imported after their fork. Pure: no ``uwsgi``.

Django imports views, URLconfs and the libraries they use (rest_framework, the
admin's views) on each worker's first request. After a restart of the
workers alone every new worker imports them again, all at once: on the Django
app of ``benchmarks/realapps.py`` that is most of the time from the change to
the first new answer. With ``uwsgi-reload-preload = true`` each worker tells
the instance which library modules it imported after the fork, and the master
imports them just before it forks the next workers.

Only library modules, under the standard library and site-packages: never a
file of the app, which must stay the workers' own so that a restart of the
workers alone serves its edits. uWSGI runs Python in the master at that
moment only with ``py-call-uwsgi-fork-hooks`` (its PyOS_BeforeFork calls the
``os.register_at_fork`` hooks), and only where Python threads are on.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import time
from typing import Any, Callable, Iterable, List, Mapping, Optional, Set, Tuple

from ._sources import module_source

#: The instance state keeps at most this many names (a Django project with
#: DRF and the admin brings about 300), which keeps it well under
#: ``_instance.MAX_STATE_BYTES`` beside the other fields.
MAX_LEARNED = 1500


def library_modules(modules: Mapping[str, Any], before: Set[str], roots: Tuple[str, ...]) -> List[str]:
    """The names in *modules*, in import order, not in *before*, whose file lies under *roots*."""
    found = []
    for name, module in list(modules.items()):
        if name in before:
            continue
        path = module_source(module)
        if path is not None and path.startswith(roots):
            found.append(name)
    return found


class Learner:
    """In a worker: the library modules it imports after the fork, told to the instance once each."""

    def __init__(self, publish: Callable[[List[str]], None], roots: Tuple[str, ...],
                 modules: Mapping[str, Any] = sys.modules) -> None:
        self._publish = publish
        self._roots = roots
        self._modules = modules
        self._known: Set[str] = set()
        self._seen_len = -1

    def forked(self) -> None:
        """What the master had imported is known already."""
        self._known = set(self._modules)
        self._seen_len = len(self._modules)

    def learn(self) -> None:
        # Only a change in the number of modules is worth a walk over them.
        if len(self._modules) == self._seen_len:
            return
        self._seen_len = len(self._modules)
        new = library_modules(self._modules, self._known, self._roots)
        self._known.update(self._modules)
        if new:
            self._publish(new)


#: uWSGI's master acts on these (stop, reload) in its signal handler, which
#: signals every worker it knows of: a worker forked after that, once the
#: imports are done, would never hear of it, and the master would wait for it
#: until worker-reload-mercy. So they wait while the master imports, and a
#: worker forked after one came leaves at once.
HELD_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT})


class ImportBeforeFork:
    """In the master, as ``os.register_at_fork`` hooks: import every learned module not imported yet.

    A module that fails to import is named, with its error, and not tried
    again by this master: the workers import it themselves, as they did
    before.
    """

    def __init__(
        self,
        learned: Callable[[], Iterable[str]],
        log: Callable[[str], None],
        import_module: Callable[[str], Any] = importlib.import_module,
        modules: Mapping[str, Any] = sys.modules,
    ) -> None:
        self._learned = learned
        self._log = log
        self._import_module = import_module
        self._modules = modules
        self._failed: Set[str] = set()
        self._mask: Optional[Set[int]] = None  # the signal mask before the imports, while they hold signals
        self._stop_came = False

    def before(self) -> None:
        names = [name for name in self._learned() if name not in self._modules and name not in self._failed]
        if not names:
            return
        self._mask = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
        started = time.perf_counter()
        errors: List[str] = []
        for name in names:
            if name in self._modules:
                continue  # imported along with an earlier one
            try:
                self._import_module(name)
            except Exception as error:
                self._failed.add(name)
                errors.append("%s (%s: %s)" % (name, type(error).__name__, error))
        imported = sum(1 for name in names if name in self._modules)
        if imported:
            self._log("imported %d library module%s the workers had imported after the fork, in %.2fs: "
                      "the new workers start with %s (uwsgi-reload-preload)"
                      % (imported, "" if imported == 1 else "s", time.perf_counter() - started,
                         "it" if imported == 1 else "them"))
        if errors:
            more = " and %d more" % (len(errors) - 1) if len(errors) > 1 else ""
            self._log("could not import %s%s before the fork: the workers import %s themselves"
                      % (errors[0], more, "it" if len(errors) == 1 else "them"))
        self._stop_came = bool(signal.sigpending() & HELD_SIGNALS)

    def after_in_parent(self) -> None:
        """The master: a stop or reload that came during the imports is handled now."""
        if self._mask is not None:
            mask, self._mask, self._stop_came = self._mask, None, False
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def after_in_child(self) -> None:
        """The new worker: it leaves at once if the master is stopping or reloading."""
        if self._mask is not None:
            if self._stop_came:
                os._exit(0)
            mask, self._mask = self._mask, None
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
