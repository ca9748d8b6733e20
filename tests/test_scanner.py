"""The pure scanner: which files are watched, and what counts as a change.

Every mtime is set with os.utime to a fixed moment far from the real clock, and
burst settling runs on an injected clock: no test sleeps or reads the time.
"""

import gc
import importlib
import importlib.util
import json
import sys
import os
import time
import types
import weakref
import zipfile
import zipimport
from pathlib import Path

import pytest

from uwsgi_reload import _baselines, _patterns, _scanner
from uwsgi_reload._scanner import Watcher, read_signature

#: A fixed mtime (seconds) well in the past, so no "edited after the watcher
#: started" logic can see it as recent.
T0 = 1_600_000_000


def write(path, text, mtime=T0):
    """Write *text* to *path* and give it the mtime *mtime* (seconds, may be fractional)."""
    path = Path(path)
    path.write_text(text)
    ns = round(mtime * 1_000_000_000)
    os.utime(path, ns=(ns, ns))
    return str(path)


def module_at(path):
    module = types.ModuleType("fake")
    module.__file__ = str(path)
    return module


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Unreadable:
    """A sys.modules entry whose attribute access fails (a broken lazy module)."""

    @property
    def __file__(self):
        raise RuntimeError("lazy module failed to load")


# -- what counts as a change -------------------------------------------------


def test_edit_is_reported_once_then_not_again(tmp_path):
    path = write(tmp_path / "app.py", "x = 1\n")
    watcher = Watcher(modules={"app": module_at(path)})

    write(path, "x = 22\n", T0 + 5)

    assert watcher.scan() == [path]
    assert watcher.scan() == []


def test_mtime_moved_backwards_is_a_change(tmp_path):
    path = write(tmp_path / "app.py", "x = 1\n", T0)
    watcher = Watcher(modules={"app": module_at(path)})

    os.utime(path, ns=((T0 - 3600) * 10**9,) * 2)

    assert watcher.scan() == [path]


def test_same_mtime_but_other_size_is_a_change(tmp_path):
    path = write(tmp_path / "app.py", "x = 1\n", T0)
    watcher = Watcher(modules={"app": module_at(path)})

    write(path, "x = 1000\n", T0)

    assert watcher.scan() == [path]


def test_file_replaced_by_rename_with_same_mtime_and_size_is_a_change(tmp_path):
    path = write(tmp_path / "app.py", "x = 1\n", T0)
    watcher = Watcher(modules={"app": module_at(path)})
    # Written beside it while the original still exists, so its inode differs.
    replacement = write(tmp_path / "app.py.new", "x = 2\n", T0)
    assert os.stat(replacement).st_size == os.stat(path).st_size

    os.replace(replacement, path)

    assert watcher.scan() == [path]


def test_deleted_file_is_a_change_reported_once(tmp_path):
    path = write(tmp_path / "app.py", "x = 1\n")
    watcher = Watcher(modules={"app": module_at(path)})

    os.remove(path)

    assert watcher.scan() == [path]
    assert watcher.scan() == []


def test_file_reappearing_after_deletion_is_a_change(tmp_path):
    path = write(tmp_path / "app.py", "x = 1\n")
    watcher = Watcher(modules={"app": module_at(path)})
    os.remove(path)
    assert watcher.scan() == [path]

    write(path, "x = 1\n")

    assert watcher.scan() == [path]


def test_unchanged_file_is_never_reported(tmp_path):
    path = write(tmp_path / "app.py", "x = 1\n")
    watcher = Watcher(modules={"app": module_at(path)})

    assert [watcher.scan() for _ in range(5)] == [[]] * 5
    assert watcher.watched_files() == [path]


def test_edit_within_one_second_on_a_whole_second_filesystem_is_a_change(tmp_path):
    # A filesystem with 1 s mtime granularity (FAT, HFS+, some NFS) stores the
    # same whole second for an edit made in the same second: the size tells.
    path = write(tmp_path / "app.py", "x = 1\n", T0)
    watcher = Watcher(modules={"app": module_at(path)})

    write(path, "x = 12\n", T0)
    assert watcher.scan() == [path]

    write(path, "x = 13\n", T0 + 1)
    assert watcher.scan() == [path]


@pytest.mark.parametrize(
    "error",
    [FileNotFoundError(2, "No such file or directory"), PermissionError(13, "Permission denied")],
    ids=["vanished-between-listing-and-stat", "permission-denied"],
)
def test_stat_failing_for_a_watched_file_is_a_change_and_does_not_raise(tmp_path, error):
    path = write(tmp_path / "app.py", "x = 1\n")
    failing = set()

    def stat(candidate):
        if candidate in failing:
            raise error
        return os.stat(candidate)

    watcher = Watcher(modules={"app": module_at(path)}, stat=stat)
    failing.add(path)

    assert watcher.scan() == [path]
    assert watcher.scan() == []


# -- extra files, globs and ignore patterns ------------------------------------


def test_extra_file_missing_at_start_is_watched_and_its_creation_is_a_change(tmp_path):
    path = str(tmp_path / "settings.ini")
    watcher = Watcher(modules={}, extra=[path])
    assert watcher.watched_files() == [path]
    assert watcher.scan() == []

    write(path, "[app]\n")

    assert watcher.scan() == [path]
    write(path, "[app]\ndebug = 1\n", T0 + 1)
    assert watcher.scan() == [path]


def test_glob_is_expanded_again_so_a_new_matching_file_is_a_change(tmp_path):
    old = write(tmp_path / "a.html", "<p>")
    watcher = Watcher(modules={}, extra=[str(tmp_path / "*.html")])
    assert watcher.watched_files() == [old]

    new = write(tmp_path / "b.html", "<p>")

    assert watcher.scan() == [new]
    assert watcher.scan() == []
    assert watcher.watched_files() == [old, new]


def test_recursive_glob_sees_a_file_in_a_new_subdirectory(tmp_path):
    watcher = Watcher(modules={}, extra=[str(tmp_path / "templates" / "**" / "*.html")])
    (tmp_path / "templates" / "admin").mkdir(parents=True)

    new = write(tmp_path / "templates" / "admin" / "base.html", "<p>")

    assert watcher.scan() == [new]


def test_glob_matching_a_directory_ignores_the_directory(tmp_path):
    (tmp_path / "t_dir").mkdir()
    file = write(tmp_path / "t_file", "x")
    watcher = Watcher(modules={}, extra=[str(tmp_path / "t_*")])

    assert watcher.watched_files() == [file]
    os.utime(tmp_path / "t_dir", ns=(T0 * 10**9,) * 2)
    write(tmp_path / "t_dir" / "inside", "changes the directory's mtime")
    assert watcher.scan() == []
    assert watcher.why_not_watched(str(tmp_path / "t_dir")).startswith("ignored")


def test_bare_name_ignore_pattern_matches_in_any_directory(tmp_path):
    (tmp_path / "sub").mkdir()
    log = write(tmp_path / "sub" / "app.log", "")
    py = write(tmp_path / "sub" / "app.py", "")
    watcher = Watcher(modules={}, extra=[str(tmp_path / "**" / "*")], ignore=["*.log"])

    assert watcher.watched_files() == [py]
    write(log, "a line\n", T0 + 1)
    assert watcher.scan() == []
    assert watcher.why_not_watched(log).startswith("ignored")


def test_full_path_ignore_pattern_matches_only_under_that_path(tmp_path):
    (tmp_path / "media").mkdir()
    (tmp_path / "src").mkdir()
    media = write(tmp_path / "media" / "upload.py", "")
    source = write(tmp_path / "src" / "upload.py", "")
    watcher = Watcher(
        modules={"media": module_at(media), "source": module_at(source)},
        ignore=[str(tmp_path / "media" / "*")],
    )

    assert watcher.watched_files() == [source]


def test_ignore_called_later_drops_files_already_watched(tmp_path):
    log = write(tmp_path / "out.log", "")
    py = write(tmp_path / "app.py", "")
    watcher = Watcher(modules={"app": module_at(py)}, extra=[log])
    assert watcher.watched_files() == [py, log]

    watcher.ignore("*.log")

    assert watcher.watched_files() == [py]
    write(log, "a line\n", T0 + 1)
    assert watcher.scan() == []


def test_glob_with_more_matches_than_the_limit_is_cut_off_and_recorded(tmp_path, monkeypatch):
    monkeypatch.setattr(_patterns, "GLOB_MATCH_LIMIT", 5)
    for number in range(8):
        write(tmp_path / ("f%d.txt" % number), "x")
    pattern = str(tmp_path / "*.txt")

    watcher = Watcher(modules={}, extra=[pattern])

    assert watcher.glob_overflow == [pattern]
    assert len(watcher.watched_files()) == 5
    assert watcher.scan() == []
    assert watcher.glob_overflow == [pattern]


# -- which file a module maps to ---------------------------------------------------


def test_pyc_in_pycache_maps_to_its_py(tmp_path):
    source = write(tmp_path / "app.py", "x = 1\n")
    cached = importlib.util.cache_from_source(source)
    os.makedirs(os.path.dirname(cached))
    write(cached, "bytecode")

    watcher = Watcher(modules={"app": module_at(cached)})

    assert watcher.watched_files() == [source]


def test_legacy_pyc_beside_its_py_maps_to_the_py(tmp_path):
    source = write(tmp_path / "app.py", "x = 1\n")
    legacy = write(tmp_path / "app.pyc", "bytecode")

    watcher = Watcher(modules={"app": module_at(legacy)})

    assert watcher.watched_files() == [source]


def test_sourceless_pyc_is_watched_itself(tmp_path):
    bytecode = write(tmp_path / "app.pyc", "bytecode")
    watcher = Watcher(modules={"app": module_at(bytecode)})

    assert watcher.watched_files() == [bytecode]
    write(bytecode, "new bytecode", T0 + 1)
    assert watcher.scan() == [bytecode]


def test_zip_import_watches_the_archive(tmp_path, monkeypatch):
    archive = tmp_path / "lib.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zipped_mod.py", "VALUE = 1\n")
    os.utime(archive, ns=(T0 * 10**9,) * 2)
    monkeypatch.syspath_prepend(str(archive))
    monkeypatch.delitem(sys.modules, "zipped_mod", raising=False)
    module = importlib.import_module("zipped_mod")
    assert isinstance(module.__loader__, zipimport.zipimporter) and module.VALUE == 1

    watcher = Watcher(modules={"zipped_mod": module})
    assert watcher.watched_files() == [str(archive)]

    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zipped_mod.py", "VALUE = 2222\n")
    assert watcher.scan() == [str(archive)]


def test_module_inside_an_archive_without_a_zipimporter_watches_the_archive(tmp_path):
    # A spec loader (importlib.resources readers, zipapp tools) can leave
    # __file__ pointing inside the archive with another __loader__.
    archive = write(tmp_path / "bundle.pyz", "zip bytes")
    module = types.SimpleNamespace(__file__=os.path.join(archive, "pkg", "mod.py"), __loader__=object())

    watcher = Watcher(modules={"mod": module})

    assert watcher.watched_files() == [archive]
    write(archive, "other zip bytes", T0 + 1)
    assert watcher.scan() == [archive]


@pytest.mark.parametrize(
    "file_value",
    [None, 42, b"", "", "/tmp/with\0nul.py", b"/tmp/with\0nul.py"],
    ids=["None", "int", "empty-bytes", "empty-str", "str-with-NUL", "bytes-with-NUL"],
)
def test_module_with_unusable_file_is_skipped_without_error(tmp_path, file_value):
    good = write(tmp_path / "good.py", "")
    bad = types.SimpleNamespace(__file__=file_value)

    watcher = Watcher(modules={"bad": bad, "good": module_at(good)})

    assert watcher.watched_files() == [good]
    assert watcher.scan() == []


def test_module_without_file_attribute_is_skipped(tmp_path):
    good = write(tmp_path / "good.py", "")
    watcher = Watcher(modules={"builtin_like": types.ModuleType("builtin_like"), "good": module_at(good)})

    assert watcher.watched_files() == [good]


def test_module_with_bytes_file_is_watched(tmp_path):
    path = write(tmp_path / "app.py", "")
    watcher = Watcher(modules={"app": types.SimpleNamespace(__file__=os.fsencode(path))})

    assert watcher.watched_files() == [path]
    write(path, "x = 1\n", T0 + 1)
    assert watcher.scan() == [path]


def test_module_with_pathlib_file_is_watched(tmp_path):
    path = write(tmp_path / "app.py", "")
    watcher = Watcher(modules={"app": types.SimpleNamespace(__file__=Path(path))})

    assert watcher.watched_files() == [path]


def test_module_whose_file_attribute_raises_is_skipped(tmp_path):
    good = write(tmp_path / "good.py", "")

    watcher = Watcher(modules={"lazy": Unreadable(), "good": module_at(good)})

    assert watcher.watched_files() == [good]
    assert watcher.scan() == []


def test_weakref_proxy_to_a_dead_object_is_skipped(tmp_path):
    good = write(tmp_path / "good.py", "")
    target = module_at(write(tmp_path / "gone.py", ""))
    proxy = weakref.proxy(target)
    del target
    gc.collect()
    with pytest.raises(ReferenceError):
        proxy.__file__

    watcher = Watcher(modules={"dead": proxy, "good": module_at(good)})

    assert watcher.watched_files() == [good]
    assert watcher.scan() == []


def test_relative_file_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    absolute = write(os.path.join(os.getcwd(), "wsgi.py"), "")

    watcher = Watcher(modules={"uwsgi_file_wsgi": types.SimpleNamespace(__file__="wsgi.py")})

    assert watcher.watched_files() == [absolute]


# -- modules appearing later and baselines -------------------------------------------


def test_module_added_after_construction_is_picked_up(tmp_path):
    modules = {}
    watcher = Watcher(modules=modules)
    path = write(tmp_path / "lazy_view.py", "x = 1\n")
    assert watcher.watched_files() == []

    modules["lazy_view"] = module_at(path)

    assert watcher.watched_files() == [path]
    write(path, "x = 22\n", T0 + 1)
    assert watcher.scan() == [path]


def test_edit_between_import_and_first_scan_is_not_lost(tmp_path):
    modules = {}
    watcher = Watcher(modules=modules)
    path = write(tmp_path / "app.py", "x = 1\n")
    # What the import hook does as the module is imported...
    watcher.note_import(path, read_signature(path))
    # ...then the file is edited before the module is even in sys.modules.
    write(path, "x = 22\n", T0 + 1)
    modules["app"] = module_at(path)

    assert watcher.scan() == [path]
    assert watcher.scan() == []


@pytest.mark.parametrize("kind", ["zip-archive", "sourceless-pyc"])
def test_archive_or_bytecode_created_after_start_and_imported_is_no_change(tmp_path, kind):
    # Nothing was edited: such a file is new, not modified since it was loaded.
    modules = {}
    watcher = Watcher(modules=modules)
    path = tmp_path / ("lib.zip" if kind == "zip-archive" else "gen.pyc")
    if kind == "zip-archive":
        with zipfile.ZipFile(path, "w") as zipped:
            zipped.writestr("lib_mod.py", "VALUE = 1\n")
        module = types.SimpleNamespace(__file__=str(path / "lib_mod.py"), __loader__=zipimport.zipimporter(str(path)))
    else:
        path.write_bytes(b"bytecode")
        module = module_at(path)
    modules["late"] = module

    assert watcher.scan() == []
    assert watcher.watched_files() == [str(path)]


def test_error_file_is_watched_and_its_fix_is_a_change(tmp_path):
    path = write(tmp_path / "broken.py", "def f(:\n")
    watcher = Watcher(modules={})

    watcher.watch_error_file(path)

    assert watcher.watched_files() == [path]
    write(path, "def f():\n    pass\n", T0 + 1)
    assert watcher.scan() == [path]


def test_a_worker_that_leaves_the_libraries_to_another_keeps_the_inherited_app_files(tmp_path):
    inherited = write(tmp_path / "inherited.py", "x = 1\n")
    library = os.path.abspath(json.__file__)  # the standard library: the rarely edited tier
    modules = {"inherited": module_at(inherited), "json": module_at(library)}
    watcher = Watcher(modules=modules, extra=[str(tmp_path / "*.html")])
    assert library in watcher.watched_files()

    watcher.forked(scans_for_instance=False)
    later = write(tmp_path / "later.py", "y = 1\n")
    modules["later"] = module_at(later)
    watcher.watch_error_file(inherited)  # a request's traceback through it

    assert watcher.watched_files() == sorted([inherited, later])
    write(inherited, "x = 22\n", T0 + 1)
    write(later, "y = 22\n", T0 + 1)
    write(tmp_path / "new.html", "<p>")  # the worker that keeps the globs sees it
    assert sorted(watcher.scan()) == sorted([inherited, later])
    assert watcher.only_own([later]) and not watcher.only_own([inherited])


def test_past_the_limit_only_the_worker_scanning_for_the_instance_keeps_inherited_app_files(tmp_path, monkeypatch):
    monkeypatch.setattr(_scanner, "EVERY_WORKER_AT_MOST", 1)
    modules = {name: module_at(write(tmp_path / (name + ".py"), "x = 1\n")) for name in ("one", "two")}
    kept, left = Watcher(modules=dict(modules)), Watcher(modules=dict(modules))

    kept.forked(scans_for_instance=True)
    left.forked(scans_for_instance=False)

    assert len(kept.watched_files()) == 2
    assert left.watched_files() == []


def test_only_modules_and_failed_imports_taken_in_after_the_fork_are_own(tmp_path):
    master_module = write(tmp_path / "models.py", "x = 1\n")
    modules = {"models": module_at(master_module)}
    watcher = Watcher(modules=modules, extra=[str(tmp_path / "*.html")])
    watcher.forked(scans_for_instance=True)
    view = write(tmp_path / "views.py", "y = 1\n")
    modules["views"] = module_at(view)
    broken = write(tmp_path / "broken.py", "y = (\n")
    watcher.watch_error_file(broken)
    template = write(tmp_path / "new.html", "<p>")
    assert watcher.scan() == [template]

    assert watcher.only_own([view, broken])
    assert not watcher.only_own([view, master_module])
    assert not watcher.only_own([template])  # an extra file: the master may read it
    assert not Watcher(modules={}).only_own([view])  # never forked: all is the master's


# -- hostile input -------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\0b.py", str("/tmp/*\0.html"), b"x\0y", 42, ""])
def test_watch_refuses_what_cannot_name_a_file_and_keeps_none_of_the_call(tmp_path, bad):
    good = write(tmp_path / "good.cfg", "x")
    watcher = Watcher(modules={})

    with pytest.raises(ValueError, match="cannot name a file"):
        watcher.watch(good, bad)

    assert watcher.watched_files() == []
    assert watcher.scan() == []
    watcher.watch(good)
    assert watcher.watched_files() == [good]


class ExitsOnAccess:
    """A sys.modules entry whose attribute access raises SystemExit."""

    def __getattr__(self, name):
        raise SystemExit(3)


def test_entry_raising_system_exit_on_access_is_skipped(tmp_path):
    good = write(tmp_path / "good.py", "x = 1\n")
    watcher = Watcher(modules={"exits": ExitsOnAccess(), "good": module_at(good)})

    assert watcher.watched_files() == [good]
    write(good, "x = 22\n", T0 + 1)
    assert watcher.scan() == [good]


# -- deleted, then created again -------------------------------------------------


def test_module_not_found_is_watched_where_it_would_be_created(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    watcher = Watcher(modules={})

    watcher.watch_for_missing_module("shop.helpers")

    assert str(tmp_path / "shop" / "helpers.py") in watcher.watched_files()
    assert watcher.scan() == []
    (tmp_path / "shop").mkdir()
    created = write(tmp_path / "shop" / "helpers.py", "X = 1\n")
    assert watcher.scan() == [created]


# -- files the app writes itself ---------------------------------------------------


def test_a_file_the_app_wrote_before_its_baseline_is_a_change_when_edited(tmp_path):
    # An app that generates local_settings.py, then imports it.
    path = str(tmp_path / "local_settings.py")
    modules = {}
    watcher = Watcher(modules=modules)
    watcher.note_write(path)
    write(path, "DEBUG = True\n")
    watcher.note_import(path, read_signature(path))
    modules["local_settings"] = module_at(path)

    write(path, "DEBUG = False\n", T0 + 1)

    assert watcher.check() == [path]
    assert watcher.rewritten_by_app == []


def test_a_file_the_app_writes_after_its_baseline_is_set_aside_and_named(tmp_path):
    log = write(tmp_path / "app.log", "")
    watcher = Watcher(modules={}, extra=[log])

    watcher.note_write(log)
    write(log, "a line\n", T0 + 1)

    assert watcher.check() == []
    assert watcher.rewritten_by_app == [log]
    assert watcher.watched_files() == []


def test_files_written_where_the_audit_hook_cannot_see_never_count(tmp_path):
    log = write(tmp_path / "uwsgi.log", "")
    watcher = Watcher(modules={}, extra=[log])
    watcher.written_elsewhere([log])

    write(log, "a line from C\n", T0 + 1)

    assert watcher.check() == []


def test_files_other_workers_set_aside_are_not_watched(tmp_path):
    log = write(tmp_path / "app.log", "")
    watcher = Watcher(modules={}, extra=[log])

    watcher.set_aside([log])

    write(log, "a line\n", T0 + 1)
    assert watcher.check() == []
    assert watcher.watched_files() == []


# -- check(): one answer per burst, from the call that sees it ------------------------


class FakeTime:
    """A clock, and a sleep that moves it on and runs the edits due by then."""

    def __init__(self):
        self.now = 0.0
        self.due = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        for at, action in sorted(self.due, key=lambda item: item[0]):
            if at <= self.now + 1e-9:
                self.due.remove((at, action))
                action()

    def at(self, moment, action):
        self.due.append((moment, action))


def timed_watcher(modules, **options):
    fake = FakeTime()
    return Watcher(modules=modules, clock=fake.clock, sleep=fake.sleep, **options), fake


def test_the_call_that_sees_a_save_returns_it_after_a_tenth_of_a_second_of_quiet(tmp_path):
    path = write(tmp_path / "views.py", "x = 1\n")
    watcher, fake = timed_watcher({"views": module_at(path)})
    assert watcher.check() == []

    write(path, "x = 22\n", T0 + 1)

    assert watcher.check() == [path]
    assert fake.now == pytest.approx(0.1)
    assert watcher.check() == []


def test_a_burst_is_one_answer_once_it_has_ended(tmp_path):
    paths = [write(tmp_path / ("m%d.py" % n), "x = 1\n") for n in range(4)]
    watcher, fake = timed_watcher({str(n): module_at(p) for n, p in enumerate(paths)}, settle=0.25)
    write(paths[0], "x = 22\n", T0 + 1)
    for number, moment in enumerate([0.2, 0.4, 0.6], start=1):  # like a git checkout
        fake.at(moment, lambda path=paths[number]: write(path, "x = 22\n", T0 + 1))

    assert watcher.check() == sorted(paths)
    assert fake.now == 1.0  # the first pass 0.25 s after the last write
    assert watcher.check() == []


def test_a_file_written_without_pause_is_answered_at_the_settle_limit(tmp_path):
    path = write(tmp_path / "rewritten.py", "x = 1\n")
    watcher, fake = timed_watcher({"rewritten": module_at(path)}, settle=0.3, settle_limit=1.0)
    write(path, "x = 0\n", T0 + 1)
    for step in range(1, 20):
        fake.at(step * 0.25, lambda step=step: write(path, "x = %d\n" % step, T0 + 1 + step))

    assert watcher.check() == [path]
    assert fake.now == pytest.approx(1.2)  # the first pass at or past 1 s


def test_classic_contract_first_call_false_edit_second_call_true(tmp_path):
    # first = code_changed(); edit; second = code_changed(): the old Django
    # poller's contract, which the @timer recipe relies on.
    path = write(tmp_path / "app.py", "x = 1\n")
    watcher, _ = timed_watcher({"app": module_at(path)})

    first = watcher.check()
    write(path, "x = 22\n", T0 + 1)
    second = watcher.check()

    assert (first, second) == ([], [path])


# -- what the host can ask --------------------------------------------------------------


def test_watched_files_are_sorted_and_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = ["zeta", "alpha", "mid"]
    for name in names:
        write(tmp_path / (name + ".py"), "")
    watcher = Watcher(modules={name: types.SimpleNamespace(__file__=name + ".py") for name in names})

    watched = watcher.watched_files()

    assert watched == sorted(os.path.join(os.getcwd(), name + ".py") for name in names)
    assert all(os.path.isabs(path) for path in watched)


def test_why_not_watched_gives_a_reason_for_each_case(tmp_path, monkeypatch):
    watched = write(tmp_path / "app.py", "")
    ignored = write(tmp_path / "app.log", "")
    outside = write(tmp_path / "other.py", "")
    watcher = Watcher(modules={"app": module_at(watched)}, extra=[ignored], ignore=["*.log"])

    assert watcher.why_not_watched(watched) == ""
    monkeypatch.chdir(tmp_path)
    assert watcher.why_not_watched("app.py") == ""
    assert watcher.why_not_watched(ignored).startswith("ignored:")
    assert "*.log" in watcher.why_not_watched(ignored)
    assert watcher.why_not_watched(str(tmp_path / "nowhere.py")).startswith("missing:")
    assert watcher.why_not_watched(outside).startswith("outside:")


# -- files users rarely edit (stdlib, site-packages) ------------------------


def test_rarely_edited_files_are_each_visited_once_per_sweep_never_dropped(tmp_path, monkeypatch):
    library = tmp_path / "site-packages"
    library.mkdir()
    monkeypatch.setattr(_scanner, "rarely_edited_roots", lambda: (str(library) + os.sep,))
    modules = {"app": module_at(write(tmp_path / "app.py", "A = 1\n"))}
    for number in range(40):
        modules["lib%d" % number] = module_at(write(library / ("lib%d.py" % number), "B = 1\n"))
    visits = []

    def counting_stat(path):
        visits.append(path)
        return os.stat(path)

    watcher = Watcher(modules=modules, stat=counting_stat)
    assert len(watcher.watched_files()) == 41
    visits.clear()
    watcher.scan()
    # The app file every time, plus a tenth of the library.
    assert len(visits) == 1 + 40 // _baselines.RARELY_EDITED_SWEEP
    assert str(tmp_path / "app.py") in visits

    edited = write(library / "lib39.py", "B = 22\n")
    found = []
    for _ in range(_baselines.RARELY_EDITED_SWEEP):
        found += watcher.scan()
    assert found == [edited]


@pytest.mark.parametrize("count", [43, 603])  # not multiples of the sweep: slices must wrap
def test_every_rarely_edited_file_is_visited_within_one_sweep_whatever_the_count(tmp_path, monkeypatch, count):
    library = tmp_path / "site-packages"
    library.mkdir()
    monkeypatch.setattr(_scanner, "rarely_edited_roots", lambda: (str(library) + os.sep,))
    modules = {"lib%d" % n: module_at(write(library / ("lib%d.py" % n), "B = 1\n")) for n in range(count)}
    visits = []

    def counting_stat(path):
        visits.append(path)
        return os.stat(path)

    watcher = Watcher(modules=modules, stat=counting_stat)
    last_seen = {}
    scans = 5 * _baselines.RARELY_EDITED_SWEEP
    for scan in range(scans):
        visits.clear()
        watcher.scan()
        for path in visits:
            if path in last_seen:
                assert scan - last_seen[path] <= _baselines.RARELY_EDITED_SWEEP, path
            last_seen[path] = scan
    assert len(last_seen) == count
    assert all(scans - 1 - scan < _baselines.RARELY_EDITED_SWEEP for scan in last_seen.values())


def test_app_files_extra_files_and_error_files_are_visited_every_scan(tmp_path, monkeypatch):
    monkeypatch.setattr(_scanner, "rarely_edited_roots", lambda: (str(tmp_path / "lib") + os.sep,))
    app = write(tmp_path / "app.py", "A = 1\n")
    extra = write(tmp_path / "settings.cfg", "a\n")
    broken = write(tmp_path / "broken.py", "x = (\n")
    watcher = Watcher(modules={"app": module_at(app)}, extra=[extra])
    watcher.watch_error_file(broken)
    for path in (app, extra, broken):
        write(path, Path(path).read_text() + "#\n", mtime=T0 + 5)
    assert sorted(watcher.scan()) == sorted([app, extra, broken])
