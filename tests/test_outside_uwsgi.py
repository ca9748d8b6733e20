"""Outside uWSGI: plain Python processes, the Python API and the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import write


def run_python(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, *args], cwd=str(folder), env=env, capture_output=True, text=True, timeout=120
    )


def test_import_outside_uwsgi_warns_once_and_starts_nothing(tmp_path):
    result = run_python(
        tmp_path,
        "-c",
        "import threading, uwsgi_reload, uwsgi_reload as again\n"
        "print(sorted(t.name for t in threading.enumerate()))",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['MainThread']"
    assert result.stderr.count("uwsgi_reload is inactive: this process is not running under uWSGI") == 1


API_LOOP = """
import time, uwsgi_reload, helper
uwsgi_reload.watch("notes/*.txt")
print("watched", sorted(p.rsplit("/", 1)[-1] for p in uwsgi_reload.watched_files() if "/site-packages/" not in p and "/lib/python" not in p), flush=True)
open("ready", "w").close()
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    if uwsgi_reload.code_changed():
        print("changed", flush=True)
        break
    time.sleep(0.05)
"""


def test_code_changed_watch_and_watched_files_work_in_plain_python(tmp_path):
    write(tmp_path / "helper.py", "VALUE = 1\n")
    (tmp_path / "notes").mkdir()
    write(tmp_path / "notes" / "a.txt", "a\n")
    write(tmp_path / "loop.py", API_LOOP)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    process = subprocess.Popen(
        [sys.executable, "-W", "ignore", "loop.py"], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        first = process.stdout.readline()
        assert first.startswith("watched ") and "'a.txt'" in first and "'helper.py'" in first, first
        write(tmp_path / "helper.py", "VALUE = 22\n")
        assert process.stdout.readline().strip() == "changed"
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def test_help(tmp_path):
    result = run_python(tmp_path, "-m", "uwsgi_reload", "--help")
    assert result.returncode == 0
    assert "usage: python -m uwsgi_reload" in result.stdout
    assert "files" in result.stdout and "options" in result.stdout
    assert result.stderr == ""


def app_with_ini(folder: Path) -> None:
    write(folder / "app.py", "import helper\napplication = None\n")
    write(folder / "helper.py", "VALUE = 1\n")
    write(folder / "notes.log", "\n")
    (folder / "templates").mkdir()
    write(folder / "templates" / "a.html", "a\n")
    write(folder / "templates" / "b.html", "b\n")
    write(folder / "uwsgi.ini", """
        [uwsgi]
        master = true
        wsgi-file = app.py
        import = uwsgi_reload
        uwsgi-reload-interval = 1.5
        uwsgi-reload-extra-files = %dtemplates/a.html %dnotes.log
        uwsgi-reload-extra-files = %dtemplates/b.html
        uwsgi-reload-ignore = *.log
    """)


def test_files_lists_what_the_app_would_have_watched(tmp_path):
    app_with_ini(tmp_path)
    result = run_python(tmp_path, "-m", "uwsgi_reload", "files", "uwsgi.ini")
    assert result.returncode == 0, result.stderr
    listed = result.stdout.splitlines()
    for name in ("app.py", "helper.py", "templates/a.html", "templates/b.html"):
        assert name in listed
    assert "notes.log" not in listed


def test_files_why_explains_each_path(tmp_path):
    app_with_ini(tmp_path)
    write(tmp_path / "unused.py", "\n")
    result = run_python(
        tmp_path, "-m", "uwsgi_reload", "files", "uwsgi.ini",
        "--why", "helper.py", "--why", "notes.log", "--why", "unused.py", "--why", "gone.py",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "helper.py: watched",
        "notes.log: ignored: it matches uwsgi-reload-ignore (*.log)",
        "unused.py: outside: no imported module, extra file or failed import uses it",
        "gone.py: missing: no such file",
    ]


def test_files_of_a_broken_app_include_the_broken_file(tmp_path):
    write(tmp_path / "app.py", "import helper\n")
    write(tmp_path / "helper.py", "VALUE = (\n")
    result = run_python(tmp_path, "-m", "uwsgi_reload", "files", "app.py")
    assert result.returncode == 0
    assert "the app failed to load (SyntaxError" in result.stderr
    assert "helper.py" in result.stdout.splitlines()


def test_options_prints_every_value_of_repeated_keys(tmp_path):
    app_with_ini(tmp_path)
    result = run_python(tmp_path, "-m", "uwsgi_reload", "options", "uwsgi.ini")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "uwsgi-reload = true",
        "uwsgi-reload-interval = 1.5",
        "uwsgi-reload-extra-files = %s/templates/a.html %s/notes.log %s/templates/b.html" % ((tmp_path,) * 3),
        "uwsgi-reload-ignore = *.log",
        "uwsgi-reload-preload = false",
    ]
    assert result.stderr == ""


def test_options_names_a_bad_value(tmp_path):
    write(tmp_path / "uwsgi.ini", "[uwsgi]\nuwsgi-reload-interval = soon\n")
    result = run_python(tmp_path, "-m", "uwsgi_reload", "options", "uwsgi.ini")
    assert "uwsgi_reload: uwsgi-reload-interval = 'soon' is not a number of seconds; using 3" in result.stderr
    assert "uwsgi-reload-interval = 3" in result.stdout
