"""Bad modules, fuzzed: no sys.modules entry can break a scan or hide a real edit.

Runs 300 hypothesis examples of hostile module dicts scanned once each, plus 50
examples scanned while another thread adds and removes entries (350 in all).
No example database is written.
"""

import gc
import importlib.util
import os
import sys
import tempfile
import threading
import types
import weakref
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from uwsgi_reload._scanner import Watcher

T0 = 1_600_000_000


class CustomError(Exception):
    pass


ERRORS = [ValueError, KeyError, RuntimeError, ImportError, AttributeError, CustomError]


def write(path, text, mtime=T0):
    Path(path).write_text(text)
    os.utime(path, ns=(mtime * 10**9, mtime * 10**9))
    return str(path)


# -- hostile __file__ values; ("real",) and the like are resolved in the temp folder --

file_values = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.binary(max_size=40),
    st.text(max_size=40),
    st.builds(Path, st.text(max_size=20)),
    st.lists(st.text(max_size=5), max_size=3),
    st.sampled_from(
        [
            b"\xff\xfe",
            b"/srv/\xff\xfe.py",
            "/tmp/with\0nul.py",
            b"/tmp/with\0nul.py",
            "x" * 5000,
            "/" + "long/" * 2000 + "m.py",
            "/",
            ("dir",),
            ("real",),
            ("normal_pyc",),
            ("missing",),
        ]
    ),
)


def resolve(value, folder):
    if value == ("dir",):
        return folder
    if value == ("real",):
        return os.path.join(folder, "other.py")
    if value == ("normal_pyc",):
        return importlib.util.cache_from_source(os.path.join(folder, "normal.py"))
    if value == ("missing",):
        return os.path.join(folder, "never_created.py")
    return value


class FsPath:
    """An os.PathLike whose __fspath__ misbehaves (raises or returns junk)."""

    def __init__(self, result):
        self.result = result

    def __fspath__(self):
        if isinstance(self.result, type):
            raise self.result("bad fspath")
        return self.result


class EvilStr(str):
    """A str whose methods raise."""

    error = RuntimeError

    def __contains__(self, item):
        raise self.error("no contains")

    def endswith(self, *args):
        raise self.error("no endswith")


def raising(attribute, error):
    def get(self):
        raise error("boom")

    return type("Raising_" + attribute.strip("_"), (), {attribute: property(get)})()


def lazy_module(error):
    def __getattr__(self, name):
        raise error(name)

    return type("BrokenLazyModule", (), {"__getattr__": __getattr__})()


def dead_proxy(folder):
    target = types.ModuleType("gone")
    target.__file__ = os.path.join(folder, "other.py")
    proxy = weakref.proxy(target)
    del target
    gc.collect()
    return proxy


def namespace_package(folder):
    module = types.ModuleType("namespace_pkg")
    module.__file__ = None
    module.__path__ = [folder]
    module.__spec__ = None
    return module


def build(entry, folder):
    kind, argument = entry
    if kind == "value":
        return argument
    if kind == "namespace":
        return types.SimpleNamespace(__file__=resolve(argument, folder))
    if kind == "module":
        module = types.ModuleType("hostile")
        module.__file__ = resolve(argument, folder)
        return module
    if kind == "raising_file":
        return raising("__file__", argument)
    if kind == "raising_loader":
        return raising("__loader__", argument)
    if kind == "lazy":
        return lazy_module(argument)
    if kind == "fspath":
        return types.SimpleNamespace(__file__=FsPath(argument))
    if kind == "evil_str":
        value = EvilStr(os.path.join(folder, "other.py"))
        value.error = argument
        return types.SimpleNamespace(__file__=value)
    if kind == "dead_proxy":
        return dead_proxy(folder)
    if kind == "namespace_package":
        return namespace_package(folder)
    if kind == "real":
        return sys.modules[argument]
    raise AssertionError(kind)


errors = st.sampled_from(ERRORS)
entries = st.one_of(
    st.tuples(st.just("value"), st.one_of(st.none(), st.integers(), st.text(max_size=10), st.builds(object))),
    st.tuples(st.just("namespace"), file_values),
    st.tuples(st.just("module"), file_values),
    st.tuples(st.just("raising_file"), errors),
    st.tuples(st.just("raising_loader"), errors),
    st.tuples(st.just("lazy"), errors),
    st.tuples(st.just("fspath"), st.one_of(errors, st.none(), st.integers(), st.just(b"/a\0b"), st.just(b"\xff"))),
    st.tuples(st.just("evil_str"), errors),
    st.tuples(st.just("dead_proxy"), st.none()),
    st.tuples(st.just("namespace_package"), st.none()),
    st.tuples(st.just("real"), st.sampled_from(["sys", "builtins", "_imp", "_frozen_importlib", "_io"])),
)


def setup_folder(folder):
    """normal.py (the module that gets edited) and other.py (never edited)."""
    normal = write(os.path.join(folder, "normal.py"), "x = 1\n")
    write(os.path.join(folder, "other.py"), "y = 1\n")
    return normal


def edit(path):
    write(path, "x = 22222\n", T0 + 1)


@settings(max_examples=300, deadline=None, database=None)
@given(hostile=st.lists(entries, max_size=25))
def test_hostile_modules_never_break_a_scan_and_the_edit_is_reported(hostile):
    with tempfile.TemporaryDirectory() as folder:
        normal = setup_folder(folder)
        modules = {"hostile_%d" % number: build(entry, folder) for number, entry in enumerate(hostile)}
        modules["normal"] = types.SimpleNamespace(__file__=normal)
        watcher = Watcher(modules=modules)
        assert normal in watcher.watched_files()

        edit(normal)

        assert watcher.scan() == [normal]
        assert watcher.scan() == []


@settings(max_examples=50, deadline=None, database=None)
@given(hostile=st.lists(entries, min_size=1, max_size=25))
def test_scans_survive_entries_added_and_removed_by_another_thread(hostile):
    with tempfile.TemporaryDirectory() as folder:
        normal = setup_folder(folder)
        values = [build(entry, folder) for entry in hostile]
        modules = {"normal": types.SimpleNamespace(__file__=normal)}
        watcher = Watcher(modules=modules)
        failures = []
        reported = []
        stop = threading.Event()
        rounds = [0]

        def churn():
            try:
                while not stop.is_set() and rounds[0] < 20_000:
                    keys = ["churn_%d_%d" % (rounds[0], number) for number in range(len(values))]
                    for key, value in zip(keys, values):
                        modules[key] = value
                    for key in keys:
                        del modules[key]
                    rounds[0] += 1
            except BaseException as error:  # pragma: no cover - asserted below
                failures.append(error)

        thread = threading.Thread(target=churn)
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)  # switch threads often, mid-scan too
        thread.start()
        try:
            edit(normal)
            scans = 0
            while scans < 20 or (rounds[0] < 20 and thread.is_alive()):
                reported.extend(watcher.scan())
                scans += 1
        finally:
            stop.set()
            thread.join()
            sys.setswitchinterval(switch_interval)
        reported.extend(watcher.scan())

        assert failures == []
        assert rounds[0] >= 20
        assert reported == [normal]
