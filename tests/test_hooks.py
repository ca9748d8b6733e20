"""The import hook (baselines) and the excepthook (failed imports) feed a Watcher.

``import uwsgi_reload`` installs both hooks process-wide once; every test here
restores what it replaces through monkeypatch.
"""

import importlib
import os
import sys
import uuid
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

from uwsgi_reload._hooks import files_of_exception, record_failed_imports, record_imports
from uwsgi_reload._scanner import Watcher

T0 = 1_600_000_000


def write(path, text, mtime=T0):
    path = Path(path)
    path.write_text(text)
    os.utime(path, ns=(mtime * 10**9, mtime * 10**9))
    return str(path)


def raised(function):
    """The exception *function* raises; its traceback starts in this helper."""
    try:
        function()
    except BaseException as error:
        return error
    raise AssertionError("%r did not raise" % function)


def compile_error(source, filename):
    try:
        compile(source, filename, "exec")
    except SyntaxError as error:
        return error
    raise AssertionError("%r compiled" % source)


def test_syntax_error_file_is_kept_as_given_even_when_relative():
    error = compile_error("def f(:\n", os.path.join("app", "broken.py"))

    # The SyntaxError's own file first, then the frame that compiled it.
    assert list(files_of_exception(error)) == [os.path.join("app", "broken.py"), __file__]


def test_pseudo_file_names_such_as_string_are_skipped():
    error = compile_error("def f(:\n", "<string>")

    assert list(files_of_exception(error)) == [__file__]


def test_traceback_files_are_listed_outermost_first(tmp_path):
    path = write(tmp_path / "settings.py", "def load():\n    raise KeyError('SECRET_KEY')\n")
    namespace = {}
    exec(compile(Path(path).read_text(), path, "exec"), namespace)

    error = raised(namespace["load"])

    assert list(files_of_exception(error)) == [__file__, path]


def test_excepthook_watches_the_failed_file_and_calls_the_previous_hook(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(sys, "excepthook", lambda *args: calls.append(args))
    path = write(tmp_path / "wsgi.py", "def application(:\n")
    watcher = Watcher(modules={})
    record_failed_imports(watcher)
    error = compile_error(Path(path).read_text(), path)

    sys.excepthook(SyntaxError, error, error.__traceback__)

    assert calls == [(SyntaxError, error, error.__traceback__)]
    assert path in watcher.watched_files()
    write(path, "def application(environ, start_response):\n    pass\n", T0 + 1)
    assert watcher.scan() == [path]


def test_excepthook_calls_the_previous_hook_even_for_a_value_it_cannot_read(monkeypatch):
    calls = []
    monkeypatch.setattr(sys, "excepthook", lambda *args: calls.append(args))
    watcher = Watcher(modules={})
    record_failed_imports(watcher)

    sys.excepthook(RuntimeError, "not an exception object", None)

    assert calls == [(RuntimeError, "not an exception object", None)]
    assert watcher.watched_files() == []


@pytest.fixture
def import_hook(monkeypatch):
    """record_imports for a fresh Watcher, undone after the test."""
    current = SourceFileLoader.path_stats
    monkeypatch.setattr(SourceFileLoader, "path_stats", current)
    if hasattr(current, "_uwsgi_reload_watcher"):
        # Already installed by `import uwsgi_reload`: record_imports retargets it.
        monkeypatch.setattr(current, "_uwsgi_reload_watcher", current._uwsgi_reload_watcher)

    def install(watcher):
        record_imports(watcher)
        return watcher

    return install


@pytest.fixture
def module_folder(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    names = []

    def new_module(source):
        name = "uwsgi_reload_test_%s" % uuid.uuid4().hex
        names.append(name)
        return name, write(tmp_path / (name + ".py"), source)

    yield new_module
    for name in names:
        sys.modules.pop(name, None)


def test_imported_file_gets_its_import_time_baseline(import_hook, module_folder):
    modules = {}
    watcher = import_hook(Watcher(modules=modules))
    name, path = module_folder("VALUE = 1\n")
    importlib.invalidate_caches()

    module = importlib.import_module(name)
    # Edited before the watcher ever saw the module: still a change.
    write(path, "VALUE = 22\n", T0 + 1)
    modules[name] = module

    assert module.VALUE == 1
    assert watcher.watched_files() == [path]
    assert watcher.scan() == [path]


def test_file_whose_import_fails_is_watched_through_the_import_hook(import_hook, module_folder):
    watcher = import_hook(Watcher(modules={}))
    name, path = module_folder("def broken(:\n")
    importlib.invalidate_caches()

    with pytest.raises(SyntaxError):
        importlib.import_module(name)

    assert watcher.watched_files() == [path]
    write(path, "def fixed():\n    pass\n", T0 + 1)
    assert watcher.scan() == [path]


def test_record_imports_again_retargets_the_hook_without_wrapping_twice(import_hook, module_folder):
    first = import_hook(Watcher(modules={}))
    installed = SourceFileLoader.path_stats
    second = import_hook(Watcher(modules={}))
    name, path = module_folder("VALUE = 1\n")
    importlib.invalidate_caches()

    importlib.import_module(name)

    assert SourceFileLoader.path_stats is installed
    assert second.watched_files() == [path]
    assert path not in first.watched_files()


def test_excepthook_watches_where_a_module_not_found_would_be_created(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", lambda *args: None)
    monkeypatch.syspath_prepend(str(tmp_path))
    watcher = Watcher(modules={})
    record_failed_imports(watcher)
    error = raised(lambda: importlib.import_module("uwsgi_reload_test_deleted_helper"))

    sys.excepthook(type(error), error, error.__traceback__)

    assert str(tmp_path / "uwsgi_reload_test_deleted_helper.py") in watcher.watched_files()
    created = write(tmp_path / "uwsgi_reload_test_deleted_helper.py", "X = 1\n")
    assert watcher.scan() == [created]


def test_a_file_compiled_by_py_compile_is_not_taken_for_an_import(import_hook, tmp_path):
    import py_compile

    watcher = import_hook(Watcher(modules={}))
    source = write(tmp_path / "generated.py", "X = 1\n")

    py_compile.compile(source, cfile=str(tmp_path / "generated.pyc"))

    assert watcher.watched_files() == []
