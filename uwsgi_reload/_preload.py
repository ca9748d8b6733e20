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

import contextlib
import importlib
import os
import signal
import sys
import time
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional, Set, Tuple

from ._sources import module_source

#: The instance state keeps at most this many names (a Django project with
#: DRF and the admin brings about 300), which keeps it well under
#: ``_instance.MAX_STATE_BYTES`` beside the other fields.
MAX_LEARNED = 1500


def library_modules(modules: Mapping[str, Any], before: Set[str], roots: Tuple[str, ...]) -> List[str]:
    """The names in *modules*, in import order, not in *before*, whose file lies under *roots*.

    A submodule whose package is not there is left out: the package failed
    to import after it (an optional dependency missing), and would fail again.
    """
    found = []
    for name, module in list(modules.items()):
        package = name.rpartition(".")[0]
        if name in before or (package and package not in modules):
            continue
        path = module_source(module)
        if path is not None and path.startswith(roots):
            found.append(name)
    return found


#: Fewer library modules imported after the fork take a few milliseconds:
#: not worth a hint.
HINT_AT_LEAST = 50


def hint(names: List[str]) -> str:
    """The line that tells a user who has not turned preloading on what it would spare."""
    packages: List[str] = []
    for name in names:
        package = name.split(".", 1)[0]
        if package not in packages:
            packages.append(package)
    shown = ", ".join(packages[:4]) + (" and %d more" % (len(packages) - 4) if len(packages) > 4 else "")
    return ("each new worker imports again the %d library modules this one imported after the fork (%s): "
            "with py-call-uwsgi-fork-hooks = true and uwsgi-reload-preload = true the master imports "
            "them once, before the fork" % (len(names), shown))


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
#: signals every worker it knows of; it knows a new worker only once its fork
#: has returned, after these hooks. One handled while the hooks run (or
#: during the fork) would leave the new worker out: it would never hear of
#: the stop, and the master would wait for it for ever. So they are held from
#: the first hook to the last, and a worker forked while one came leaves at
#: once, told so by the master through a pipe.
HELD_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT})
LEAVE, STAY = b"L", b"S"


@contextlib.contextmanager
def _fork_hooks_set_meanwhile() -> Iterator[List[Callable[[], Any]]]:
    """The "before" hooks that ``os.register_at_fork`` is given inside the block."""
    befores: List[Callable[[], Any]] = []
    register = os.register_at_fork

    def recording(**hooks: Callable[[], Any]) -> None:
        register(**hooks)
        if "before" in hooks:
            befores.append(hooks["before"])

    os.register_at_fork = recording
    try:
        yield befores
    finally:
        os.register_at_fork = register


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
        in_master: Callable[[], bool],
        import_module: Callable[[str], Any] = importlib.import_module,
        modules: Mapping[str, Any] = sys.modules,
    ) -> None:
        self._learned = learned
        self._log = log
        self._in_master = in_master
        self._import_module = import_module
        self._modules = modules
        self._failed: Set[str] = set()
        self._mask: Optional[Set[int]] = None  # the signal mask to restore once the fork is done
        self._verdict: Tuple[int, int] = (-1, -1)  # the pipe on which the master tells the new worker

    def before(self) -> None:
        if not self._in_master():
            return  # an os.fork() of the app in a worker: not ours
        if self._mask is None:
            self._mask = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
        else:
            self._close_verdict()  # the last fork failed: no hook after it ran
        self._verdict = os.pipe()
        self._import_missing()

    def after_in_parent(self) -> None:
        """The master: tell the new worker whether a stop or reload came, then handle it."""
        if self._mask is None:
            return
        verdict = LEAVE if signal.sigpending() & HELD_SIGNALS else STAY
        os.write(self._verdict[1], verdict)
        self._close_verdict()
        mask, self._mask = self._mask, None
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def after_in_child(self) -> None:
        """The new worker: it leaves at once if the master is stopping or reloading."""
        if self._mask is None:
            return
        os.close(self._verdict[1])
        verdict = os.read(self._verdict[0], 1)
        os.close(self._verdict[0])
        if verdict != STAY:  # LEAVE, or nothing: the master is gone
            os._exit(0)
        mask, self._mask = self._mask, None
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def _close_verdict(self) -> None:
        for fd in self._verdict:
            if fd >= 0:
                os.close(fd)
        self._verdict = (-1, -1)

    def _import_missing(self) -> None:
        names = [name for name in self._learned() if name not in self._modules and name not in self._failed]
        if not names:
            return
        started = time.perf_counter()
        errors: List[str] = []
        with _fork_hooks_set_meanwhile() as befores:
            for name in names:
                if name in self._modules:
                    continue  # imported along with an earlier one
                try:
                    self._import_module(name)
                except Exception as error:
                    self._failed.add(name)
                    errors.append("%s (%s: %s)" % (name, type(error).__name__, error))
        # Python read the "before" hooks of this fork already, and runs the
        # "after" ones of every hook: a module imported here (logging,
        # concurrent.futures) would release a lock it never took, with a
        # traceback in the log. Its "before" runs now, as Python would run it.
        for hook in reversed(befores):
            try:
                hook()
            except Exception as error:
                self._log("the fork hook %r of a module imported before the fork failed (%s: %s)"
                          % (hook, type(error).__name__, error))
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
