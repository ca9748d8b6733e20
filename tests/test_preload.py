"""The pure part of uwsgi-reload-preload: which modules a worker learns, and how the master imports them.

The real thing, under uWSGI with its fork hooks, is in test_reload_path.py.
"""

import os
import signal
import sys
import threading
import types

from uwsgi_reload._preload import ImportBeforeFork, Learner, hint, library_modules

LIBRARY = "/venv/lib/python3.11/site-packages/"
ROOTS = (LIBRARY, "/usr/lib/python3.11/")


def module(path):
    """A module object loaded from *path* (never read: only its name is looked at)."""
    made = types.ModuleType("m")
    made.__file__ = path
    return made


def test_only_library_modules_imported_since_the_fork_are_learned_in_import_order():
    modules = {
        "django": module(LIBRARY + "django/__init__.py"),  # the master had it
        "rest_framework": module(LIBRARY + "rest_framework/__init__.py"),
        "rest_framework.viewsets": module(LIBRARY + "rest_framework/viewsets.py"),
        "catalog.views": module("/home/me/shop/catalog/views.py"),  # the app's own
        "wave": module("/usr/lib/python3.11/wave.py"),
        "builtin_like": types.ModuleType("builtin_like"),  # no file
        # Left behind when its package failed on a missing optional dependency.
        "django.contrib.postgres.forms.array": module(LIBRARY + "django/contrib/postgres/forms/array.py"),
    }
    assert library_modules(modules, {"django"}, ROOTS) == ["rest_framework", "rest_framework.viewsets", "wave"]


def test_a_learner_tells_each_new_library_module_once():
    modules = {"django": module(LIBRARY + "django/__init__.py")}
    told = []
    learner = Learner(told.append, ROOTS, modules)
    learner.forked()
    learner.learn()
    modules["rest_framework"] = module(LIBRARY + "rest_framework/__init__.py")
    modules["catalog.views"] = module("/home/me/shop/catalog/views.py")
    learner.learn()
    learner.learn()
    modules["wave"] = module("/usr/lib/python3.11/wave.py")
    learner.learn()
    assert told == [["rest_framework"], ["wave"]]


def test_the_master_imports_what_is_missing_and_names_each_failure_once():
    modules = {"django": object()}
    lines = []
    imported = []

    def import_module(name):
        imported.append(name)
        if name.startswith("broken"):
            raise RuntimeError("AppRegistryNotReady")
        modules[name] = object()
        if name == "rest_framework.viewsets":
            modules["rest_framework.generics"] = object()  # imported along with it

    hooks = ImportBeforeFork(
        lambda: ["django", "rest_framework.viewsets", "rest_framework.generics", "broken.one", "broken.two"],
        lines.append, lambda: True, import_module, modules,
    )
    hooks.before()
    hooks.after_in_parent()
    hooks.before()  # the next fork: nothing left to import, and no failure tried again
    hooks.after_in_parent()
    assert imported == ["rest_framework.viewsets", "broken.one", "broken.two"]
    assert len(lines) == 2
    assert lines[0].startswith("imported 2 library modules the workers had imported after the fork, in ")
    assert lines[1] == (
        "could not import broken.one (RuntimeError: AppRegistryNotReady) and 1 more before the fork: "
        "the workers import them themselves"
    )


def fork_with(hooks):
    """Fork as uWSGI does with its fork hooks on; the child's exit status."""
    hooks.before()
    pid = os.fork()
    if pid == 0:
        hooks.after_in_child()
        os._exit(7)  # a worker that went on to serve
    hooks.after_in_parent()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_a_stop_during_the_imports_waits_for_the_fork_and_the_new_worker_leaves_at_once():
    handled = []
    previous = signal.signal(signal.SIGHUP, lambda signum, frame: handled.append(signum))
    try:
        modules = {}

        def import_module(name):
            os.kill(os.getpid(), signal.SIGHUP)  # uWSGI's reload, while the master imports
            assert handled == []  # held: the master would have signalled the workers it knew of
            modules[name] = object()

        hooks = ImportBeforeFork(lambda: ["rest_framework"], [].append, lambda: True, import_module, modules)
        assert fork_with(hooks) == 0  # forked after the reload came: it left at once
        assert handled == [signal.SIGHUP]  # and the master handled the reload after the fork
        assert signal.SIGHUP not in signal.pthread_sigmask(signal.SIG_BLOCK, [])

        assert fork_with(hooks) == 7  # nothing to import, no reload: the worker serves

        # Nothing to import, and the reload comes after the hooks before the
        # fork (while the master forks, before it knows the new pid).
        hooks.before()
        os.kill(os.getpid(), signal.SIGHUP)
        pid = os.fork()
        if pid == 0:
            hooks.after_in_child()
            os._exit(7)
        assert handled == [signal.SIGHUP]
        hooks.after_in_parent()
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        assert handled == [signal.SIGHUP, signal.SIGHUP]
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_module_imported_before_the_fork_gets_its_own_fork_hooks_run_in_order(monkeypatch):
    # logging and concurrent.futures hold a lock across each fork: taken in
    # their "before" hook, released after it. Registered during the imports
    # of this fork, their "after" hooks ran without the "before" (Python had
    # read that list already): "RuntimeError: cannot release un-acquired lock".
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    lock = threading.Lock()
    calls = []

    def before():
        calls.append("before")
        lock.acquire()

    def after_in_parent():
        calls.append("after")
        lock.release()

    modules = {}
    active = [True]

    def import_module(name):
        os.register_at_fork(before=lambda: active and before(), after_in_parent=lambda: active and after_in_parent())
        modules[name] = object()

    hooks = ImportBeforeFork(lambda: ["lockish"], [].append, lambda: True, import_module, modules)
    # Run by Python's own fork, as uWSGI's fork hooks do, and only in this test.
    os.register_at_fork(before=lambda: active and hooks.before(),
                        after_in_parent=lambda: active and hooks.after_in_parent(),
                        after_in_child=lambda: active and hooks.after_in_child())
    try:
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7
    finally:
        active.clear()
    assert calls == ["before", "after"]
    assert unraisable == []
    assert not lock.locked()
    assert os.register_at_fork.__module__ == "posix"  # given back


def test_in_a_worker_the_hooks_do_nothing():
    hooks = ImportBeforeFork(lambda: ["wave"], [].append, lambda: False, lambda name: 1 / 0, {})
    hooks.before()
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    hooks.after_in_parent()


def test_without_a_stop_the_new_worker_gets_the_signal_mask_it_had():
    modules = {}
    hooks = ImportBeforeFork(lambda: ["wave"], [].append, lambda: True,
                             lambda name: modules.setdefault(name, object()), modules)
    hooks.before()
    assert signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    pid = os.fork()
    if pid == 0:
        hooks.after_in_child()
        os._exit(7 if signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, []) else 1)
    hooks.after_in_parent()
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_the_hint_counts_the_modules_and_names_their_packages_in_import_order():
    names = ["django.contrib.admin.views.main", "rest_framework", "rest_framework.viewsets",
             "django_filters", "django", "wave", "json.decoder"]
    assert hint(names) == (
        "each new worker imports again the 7 library modules this one imported after the fork "
        "(django, rest_framework, django_filters, wave and 1 more): with py-call-uwsgi-fork-hooks = true "
        "and uwsgi-reload-preload = true the master imports them once, before the fork"
    )
