"""Every snippet in README.rst is executed or validated here."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import List

import pytest

from uwsgi_reload._options import read_ini_values

from conftest import write

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.rst").read_text()


def code_blocks(language: str) -> List[str]:
    blocks = re.findall(r"^\.\. code-block:: %s\n\n((?:    .*\n|\n)+)" % language, README, re.MULTILINE)
    return [re.sub(r"^    ", "", block, flags=re.MULTILINE) for block in blocks]


def literal_commands() -> List[str]:
    """The one-line shell commands in ``::`` literal blocks."""
    return re.findall(r"::\n\n    (\S.*)\n", README)


def test_the_test_command_is_the_one_ci_runs():
    commands = literal_commands()
    assert "pytest" in commands
    assert "pip install '.[uwsgi,test]'" in commands
    assert "pip install --quiet '.[uwsgi,test]'" in (ROOT / ".ci" / "run").read_text()
    # Plain `pytest`, not `python -m pytest`: the latter would put the checkout
    # on sys.path and test it instead of the installed package.
    assert "\npytest\n" in (ROOT / ".ci" / "run").read_text()


def test_the_demo_command_installs_uwsgi_and_runs_the_demo_ini():
    (demo,) = [command for command in literal_commands() if "demo/uwsgi.ini" in command]
    assert "pip install '.[uwsgi]'" in demo  # only what the demo uses
    assert demo.endswith("uwsgi --ini demo/uwsgi.ini")


@pytest.mark.uwsgi
def test_the_demo_reloads_an_edited_greeting(tmp_path, make_server):
    demo = tmp_path / "demo"
    shutil.copytree(ROOT / "demo", demo)
    ini = (demo / "uwsgi.ini").read_text()
    assert "http-socket = 127.0.0.1:8000" in ini
    server = make_server(ini.replace("127.0.0.1:8000", "127.0.0.1:{port}"), folder=demo)
    server.wait_for_body("Hello from uwsgi_reload. Edit demo/greeting.py, save, and reload this page.\n")
    write(demo / "greeting.py", 'MESSAGE = "Edited."\n')
    server.wait_for_body("Edited.\n")


@pytest.mark.uwsgi
def test_the_ini_snippet_runs_under_uwsgi(tmp_path, make_server):
    snippet = code_blocks("ini")[0]
    assert "import = uwsgi_reload" in snippet and "master = true" in snippet
    write(tmp_path / "app.py", """
        def application(environ, start_response):
            start_response("200 OK", [])
            return [b"snippet"]
    """)
    server = make_server(snippet.replace("127.0.0.1:8000", "127.0.0.1:{port}"))
    server.wait_for_body("snippet")
    server.wait_for_log(r"^uwsgi_reload: watching \d+ files, checked every 3s")


def test_the_options_snippet_means_what_the_readme_says(tmp_path):
    snippet = code_blocks("ini")[1]
    ini = tmp_path / "uwsgi.ini"
    ini.write_text("[uwsgi]\n" + snippet)
    values = read_ini_values(str(ini), "uwsgi", {})
    assert values["uwsgi-reload-extra-files"] == [
        "%s/templates/**/*.html %s/.env" % (tmp_path, tmp_path),
        "%s/config/*.toml" % tmp_path,
    ]
    assert values["uwsgi-reload-ignore"] == ["*.log *.sqlite3"]


def test_the_production_snippet_turns_reloading_off(tmp_path):
    from uwsgi_reload._options import read_options

    ini = tmp_path / "uwsgi.ini"
    ini.write_text("[uwsgi]\n" + code_blocks("ini")[-1])
    options, problems = read_options({"ini": str(ini).encode()})
    assert options.enabled is False and problems == []


def test_the_python_snippet_runs(tmp_path, monkeypatch):
    (snippet,) = code_blocks("python")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(snippet, "README.rst", "exec"), namespace)
    assert callable(namespace["restart_when_code_changes"])


def test_the_bad_value_line_is_the_one_logged():
    from uwsgi_reload._options import read_options

    _, problems = read_options({"uwsgi-reload-interval": b"soon"})
    assert "    uwsgi_reload: %s\n" % problems[0] in README


def test_the_log_lines_shown_are_the_ones_the_tests_wait_for():
    from conftest import READY, RELOADED, STARTED, WORKERS_ONLY

    lines = re.findall(r"^    (uwsgi_reload: .*)$", README, re.MULTILINE)
    for pattern in (STARTED, RELOADED, READY, WORKERS_ONLY):
        assert any(re.search(pattern, line) for line in lines), pattern


def test_the_demo_stops_on_sigterm_as_the_readme_says():
    assert "die-on-term = true" in (ROOT / "demo" / "uwsgi.ini").read_text()
    assert "``die-on-term = true``" in README


def test_the_set_placeholder_example_is_the_one_tested():
    assert "--set-placeholder uwsgi-reload-interval=1" in README


def test_the_flask_snippet_is_the_line_the_flask_example_runs():
    flask = README[README.index("\nFlask\n    "):]
    snippet = re.search(r"^    \.\. code-block:: ini\n\n        (.*)\n", flask, re.MULTILINE).group(1)
    assert snippet in (ROOT / "examples" / "flask" / "uwsgi.ini").read_text().splitlines()


def test_the_examples_named_in_the_readme_exist():
    for name in re.findall(r"``examples/(\w+)``", README):
        assert (ROOT / "examples" / name / "uwsgi.ini").is_file(), name


def test_the_browser_snippet_turns_the_browser_on_for_vagrants_host(tmp_path):
    from uwsgi_reload._browser import KEYS, read_browser_options

    snippet = code_blocks("ini")[2]
    ini = tmp_path / "uwsgi.ini"
    ini.write_text("[uwsgi]\n" + snippet)
    options, problems = read_browser_options(read_ini_values(str(ini), "uwsgi", {}, keys=KEYS))
    assert options.enabled and [str(network) for network in options.allow] == ["10.0.2.2/32"] and problems == []


@pytest.mark.uwsgi
def test_the_first_snippet_with_the_browser_line_serves_pages_with_the_script(tmp_path, make_server):
    snippet = code_blocks("ini")[0] + "uwsgi-reload-browser = true\n"
    write(tmp_path / "app.py", """
        def application(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/html")])
            return [b"<html><body>snippet</body></html>"]
    """)
    server = make_server(snippet.replace("127.0.0.1:8000", "127.0.0.1:{port}"))
    server.wait_for_log(r"^uwsgi_reload: browser refresh on")
    server.wait_for_log(r"^uwsgi_reload: watching \d+ files")  # the workers are up
    status, body = server.get()
    assert status == 200 and '<script src="/__uwsgi_reload__/live.js"' in body


def test_the_live_reload_line_is_the_one_tested():
    line = "application = uwsgi_reload.live_reload(application)"
    assert "    %s\n" % line in README
    assert line in (ROOT / "tests" / "test_browser.py").read_text()


def test_the_preload_lines_are_the_ones_tested():
    from test_reload_path import PRELOAD_OPTIONS, PRELOADED

    assert "        py-call-uwsgi-fork-hooks = true\n        uwsgi-reload-preload = true\n" in README
    assert {"py-call-uwsgi-fork-hooks = true", "uwsgi-reload-preload = true"} <= set(PRELOAD_OPTIONS)
    lines = re.findall(r"^        (uwsgi_reload: .*)$", README, re.MULTILINE)
    assert any(re.search(PRELOADED, line) for line in lines)


def test_the_line_of_a_worker_forked_during_a_reload_is_the_one_tested():
    from test_reliability import FORKED_DURING_RELOAD

    lines = re.findall(r"^        (uwsgi_reload: .*)$", README, re.MULTILINE)
    assert any(re.search(FORKED_DURING_RELOAD, line) for line in lines)


def test_the_warm_flask_lines_are_the_ones_tested():
    from test_examples import WARM_FLASK_LINES

    assert "".join("        %s\n" % line for line in WARM_FLASK_LINES) in README
