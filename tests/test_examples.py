"""The apps in examples/ run as shipped and reload when a view or template changes.

Each test copies an example folder, so the run never touches the repository,
and only swaps the fixed port 8000 for a free one: the ini itself is the one a
user runs.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Callable, Set

import pytest

from conftest import RELOADED, TIMEOUT, WORKERS_ONLY, Server, wait_until, write

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
pytestmark = pytest.mark.uwsgi


def start_example(name: str, tmp_path: Path, make_server: Callable[..., Server],
                  edit_ini: Callable[[str], str] = lambda ini: ini) -> Server:
    folder = tmp_path / name
    shutil.copytree(EXAMPLES / name, folder)
    ini = edit_ini((folder / "uwsgi.ini").read_text())
    assert "127.0.0.1:8000" in ini, "the example should listen where its comments say"
    # The ini goes through str.format: keep uWSGI's own braces, if any, literal.
    ini = ini.replace("{", "{{").replace("}", "}}").replace("127.0.0.1:8000", "127.0.0.1:{port}")
    return make_server(ini, folder=folder)


def test_plain(tmp_path: Path, make_server: Callable[..., Server]) -> None:
    server = start_example("plain", tmp_path, make_server)
    server.wait_for_body("Hello from plain WSGI")
    write(tmp_path / "plain" / "greeting.py", 'TEXT = "Hello again, plain WSGI"\n')
    server.wait_for_log(r"^uwsgi_reload: greeting\.py changed, reloading$")
    server.wait_for_body("Hello again, plain WSGI")
    assert server.count(RELOADED) == 1


def test_flask_template(tmp_path: Path, make_server: Callable[..., Server]) -> None:
    pytest.importorskip("flask")
    server = start_example("flask", tmp_path, make_server)
    server.wait_for_body("<p>Hello from Flask</p>")
    # The worker that answered has compiled and cached the template: without
    # the reload it would keep serving the old text.
    write(tmp_path / "flask" / "templates" / "index.html", "<h1>Edited {{ framework }} template</h1>\n")
    server.wait_for_log(r"^uwsgi_reload: templates/index\.html changed, reloading$")
    server.wait_for_body("<h1>Edited Flask template</h1>")
    assert server.count(RELOADED) == 1


#: The README's lines that serve a Flask edit from a warm master.
WARM_FLASK_LINES = ("lazy-apps = true", "shared-import = uwsgi_reload", "py-call-uwsgi-fork-hooks = true",
                    "uwsgi-reload-preload = true")


def test_flask_from_a_warm_master(tmp_path: Path, make_server: Callable[..., Server], uwsgi_facts) -> None:
    pytest.importorskip("flask")
    from test_reload_path import PRELOADED, needs_fork_hooks

    needs_fork_hooks(uwsgi_facts.version)

    def warm(ini: str) -> str:
        assert "import = uwsgi_reload\n" in ini
        return ini.replace("import = uwsgi_reload\n", "".join(line + "\n" for line in WARM_FLASK_LINES))

    server = start_example("flask", tmp_path, make_server, warm)
    server.wait_for_body("<p>Hello from Flask</p>")
    app = tmp_path / "flask" / "app.py"
    for number, framework in enumerate(("Flask, edited", "Flask, edited again"), start=1):
        write(app, re.sub(r'framework="[^"]*"', 'framework="%s"' % framework, app.read_text()))
        server.wait_for_body("<p>Hello from %s</p>" % framework)
        server.wait_for_log(r"^uwsgi_reload: app\.py " + WORKERS_ONLY, count=number)
    # Before it forked new workers the master imported the libraries the
    # workers had (Flask, Jinja, Werkzeug), and it never re-execed.
    server.wait_for_log(PRELOADED)
    assert server.count(r"^binary reloading uWSGI") == 0
    # Flask imports logging, which takes a lock across each fork: imported
    # by the master just before one, it must not release what it never took.
    assert server.count(r"^Traceback|^Exception ignored") == 0, server.tail()


def test_pyramid(tmp_path: Path, make_server: Callable[..., Server]) -> None:
    pytest.importorskip("pyramid")
    server = start_example("pyramid", tmp_path, make_server)
    server.wait_for_body("Hello from Pyramid")
    app = tmp_path / "pyramid" / "app.py"
    write(app, app.read_text().replace("Hello from Pyramid", "Hello again from Pyramid"))
    server.wait_for_log(r"^uwsgi_reload: app\.py changed, reloading$")
    server.wait_for_body("Hello again from Pyramid")
    assert server.count(RELOADED) == 1


def serving_workers(server: Server, since: int) -> Set[str]:
    """PIDs of the workers that logged a request to / after log offset *since*."""
    return set(re.findall(r"\[pid: (\d+)\|.*\] .* GET / ", server.log()[since:]))


def import_view_in_every_worker(server: Server, body: str, workers: int = 4) -> None:
    """Ask until every worker has served /, so each has imported the view itself.

    Afterwards no worker can show an edit by importing the view for the first
    time: a new answer can only come from a reload.
    """
    since = len(server.log())

    def spread() -> bool:
        assert server.get("/") == (200, body)
        return len(serving_workers(server, since)) >= workers

    wait_until(spread, TIMEOUT, "requests served by all %d workers" % workers, server.tail)


def test_django_lazy_views_with_four_workers(tmp_path: Path, make_server: Callable[..., Server]) -> None:
    pytest.importorskip("django")
    server = start_example("django", tmp_path, make_server)
    assert "processes = 4" in server.ini_path.read_text()
    views = tmp_path / "django" / "shop" / "views.py"
    server.wait_for_body("Hello from Django")
    import_view_in_every_worker(server, "Hello from Django")

    # Four workers see the edit of a module they imported after the fork.
    write(views, views.read_text().replace("Hello from Django", "Edited Django view"))
    # Django imported the view in the workers, after the fork: they alone restart.
    server.wait_for_log(r"^uwsgi_reload: shop/views\.py " + WORKERS_ONLY)
    server.wait_for_body("Edited Django view")
    assert server.count(RELOADED) == 1, "one edit seen by several workers must reload once"

    # A second edit once the restarted workers imported the view again: a late
    # duplicate reload for the first edit would show up as a third line.
    import_view_in_every_worker(server, "Edited Django view")
    write(views, views.read_text().replace("Edited Django view", "Django view, edited twice"))
    server.wait_for_log(RELOADED, count=2)
    server.wait_for_body("Django view, edited twice")
    assert server.count(RELOADED) == 2
