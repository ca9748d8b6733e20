"""Edits that must not be missed, and reloads that must not happen, against real uWSGI."""

from __future__ import annotations

import pytest

from conftest import APP, RELOADED, STARTED, Server, wait_until, write
from test_reload import ini

pytestmark = pytest.mark.uwsgi


# -- deleted, then created again -------------------------------------------------


@pytest.mark.core
def test_a_deleted_module_reloads_and_creating_it_again_reloads_again(app, make_server):
    server = make_server(ini())
    server.wait_for_body("one")

    (app / "helper.py").unlink()
    server.wait_for_log(r"^uwsgi_reload: helper\.py changed, reloading$")
    server.wait_for_log(r"ModuleNotFoundError: No module named 'helper'")
    server.wait_for_status(500)
    write(app / "helper.py", 'MESSAGE = "back"\n')

    server.wait_for_body("back")
    assert server.count(RELOADED) == 2


def test_a_deleted_wsgi_file_created_again_is_served(app, make_server):
    server = make_server(ini())
    server.wait_for_body("one")
    source = (app / "app.py").read_text()

    (app / "app.py").unlink()
    server.wait_for_log(r"^uwsgi_reload: app\.py changed, reloading$")
    server.wait_for_log(r"failed to open python file app\.py")
    write(app / "app.py", source)

    server.wait_for_body("one")
    assert server.count(RELOADED) == 2


# -- files the app writes ---------------------------------------------------------


def test_a_module_the_app_generates_then_imports_is_the_users_to_edit(app, make_server):
    write(app / "app.py", "import pathlib\n"
          "if not pathlib.Path('local_settings.py').exists():\n"
          "    pathlib.Path('local_settings.py').write_text('MESSAGE = \"generated\"\\n')\n"
          "import local_settings\n"
          "def application(environ, start_response):\n"
          "    start_response('200 OK', [])\n"
          "    return [local_settings.MESSAGE.encode()]\n")
    server = make_server(ini())
    server.wait_for_body("generated")
    server.wait_for_log(STARTED)

    write(app / "local_settings.py", 'MESSAGE = "edited by hand"\n')

    server.wait_for_body("edited by hand")
    assert server.count(r"written by the app itself") == 0


def test_a_log_the_app_appends_to_at_every_request_never_reloads_across_respawns(app, make_server):
    write(app / "app.py", "import helper\n"
          "def application(environ, start_response):\n"
          "    with open('app.log', 'a') as log:\n"
          "        log.write('request\\n')\n"
          "    start_response('200 OK', [])\n"
          "    return [helper.MESSAGE.encode()]\n")
    server = make_server(ini("max-requests = 3", "min-worker-lifetime = 1", "uwsgi-reload-extra-files = %d*.log",
                             processes=1))
    server.wait_for_body("one")
    # Each worker lives at least min-worker-lifetime: 5 respawns take 5 s of requests.
    wait_until(lambda: server.get() == (200, "one") and server.count(r"Respawned uWSGI worker") >= 5,
               40, "respawns by max-requests", server.tail)

    # The reload for this edit is the only one.
    write(app / "helper.py", 'MESSAGE = "two!"\n')
    server.wait_for_body("two!")
    assert server.count(RELOADED) == 1
    # Named once, with uWSGI's own log, which the same glob matches.
    assert server.count(r"^uwsgi_reload: .*app\.log (is|are) written by the app itself") == 1


# -- the classic recipe, with code_changed() ------------------------------------------

CLASSIC_APP = '''
import uwsgi, uwsgi_reload, helper
from uwsgidecorators import timer

@timer(1)
def reload_on_change(signum):
    uwsgi.log("recipe: checking")
    if uwsgi_reload.code_changed():
        uwsgi.log("recipe: reloading")
        uwsgi.reload()

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [helper.MESSAGE.encode()]
'''


def test_the_classic_timer_recipe_reloads_once_per_edit_with_code_changed(app, make_server):
    write(app / "app.py", CLASSIC_APP)
    # uwsgi_reload's own tick off: the recipe's timer drives code_changed().
    # Off, uwsgi_reload installs no import hook, so a file's baseline is its
    # first scan: edit once the recipe has checked. One worker: the timer's
    # signal goes to any worker of the pool, and a worker whose first scan
    # came after the edit takes the edited file as its baseline.
    server = make_server(ini("uwsgi-reload = false", import_in_ini=False, processes=1)
                         .replace("uwsgi-reload-interval = 0.5\n", ""))
    server.wait_for_body("one")
    for number, body in enumerate(["two!", "three"], start=1):
        server.wait_for_log(r"^recipe: checking$", count=server.count(r"^recipe: checking$") + 1)
        write(app / "helper.py", 'MESSAGE = "%s"\n' % body)
        server.wait_for_body(body)
        server.wait_for_log(r"^recipe: reloading$", count=number)
    assert server.count(r"^recipe: reloading$") == 2


# -- hostile input ---------------------------------------------------------------------

HOSTILE_MODULES_APP = '''
import sys, helper

class ExitsOnAccess:
    def __getattr__(self, name):
        raise SystemExit("a lazy module that exits")

sys.modules["exits_on_access"] = ExitsOnAccess()

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [helper.MESSAGE.encode()]
'''


def test_a_module_that_raises_system_exit_when_looked_at_does_not_stop_reloading(app, make_server):
    write(app / "app.py", HOSTILE_MODULES_APP)
    server = make_server(ini())
    server.wait_for_body("one")
    server.wait_for_log(STARTED)
    write(app / "helper.py", 'MESSAGE = "two!"\n')
    server.wait_for_body("two!")
    write(app / "helper.py", 'MESSAGE = "three"\n')
    server.wait_for_body("three")


def test_an_extra_file_with_a_nul_byte_is_named_and_skipped(app, make_server):
    server = make_server(ini(), start=False)
    server.ini_path.write_bytes(server.ini_path.read_bytes() + b"uwsgi-reload-extra-files = bad\x00name good.cfg\n")
    server.start()
    server.wait_for_body("one")
    server.wait_for_log(STARTED)
    write(app / "helper.py", 'MESSAGE = "two!"\n')
    server.wait_for_body("two!")


# -- archives and bytecode that appear ---------------------------------------------------

LATE_IMPORTS_APP = '''
import compileall, os, sys, zipfile, helper

def application(environ, start_response):
    if environ["PATH_INFO"] == "/import":
        # An archive and a sourceless module, both made after the start.
        with zipfile.ZipFile("late.zip", "w") as archive:
            archive.writestr("zipped.py", "VALUE = 'zipped'\\n")
        sys.path.insert(0, os.path.abspath("late.zip"))
        with open("gen_src.py", "w") as source:
            source.write("VALUE = 'bytecode'\\n")
        compileall.compile_file("gen_src.py", legacy=True, quiet=1)
        os.rename("gen_src.pyc", "gen.pyc")
        os.remove("gen_src.py")
        import zipped, gen
        body = zipped.VALUE + "/" + gen.VALUE
    else:
        body = helper.MESSAGE
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
'''


def test_an_archive_or_bytecode_imported_after_the_start_is_no_change(app, make_server):
    write(app / "app.py", LATE_IMPORTS_APP)
    server = make_server(ini(processes=1))
    server.wait_for_body("one")
    server.wait_for_body("zipped/bytecode", path="/import")
    # A later edit is the first reload: none for the new archive and bytecode.
    write(app / "helper.py", 'MESSAGE = "two!"\n')
    server.wait_for_body("two!")
    assert server.count(r"^uwsgi_reload: helper\.py changed, reloading$") == 1
    assert server.count(RELOADED) == 1


# -- under an Emperor ------------------------------------------------------------------------


def test_under_an_emperor_each_line_names_its_vassal(tmp_path, make_server):
    vassals = tmp_path / "vassals"
    vassals.mkdir()
    apps = []
    for name in ("shop", "blog"):
        folder = tmp_path / name
        folder.mkdir()
        write(folder / "app.py", APP)
        write(folder / "helper.py", 'MESSAGE = "%s one"\n' % name)
        # Not started itself: the Emperor runs its ini, copied to the vassals folder.
        vassal = Server(folder, ini("chdir = %s" % folder))
        (vassals / ("%s.ini" % name)).write_text(vassal.ini_path.read_text())
        apps.append((name, vassal))
    emperor = make_server("[uwsgi]\nemperor = %s\n" % vassals)
    for name, vassal in apps:
        vassal.wait_for_body("%s one" % name)
        write(vassal.folder / "helper.py", 'MESSAGE = "%s two"\n' % name)
        vassal.wait_for_body("%s two" % name)
        emperor.wait_for_log(r"^uwsgi_reload: \[%s\.ini\] helper\.py changed, reloading$" % name)


@pytest.mark.parametrize("interval", ["1", "0.5"])
def test_under_gevent_with_monkey_patching_the_timer_scans_and_reloads_leave_no_error(app, make_server, interval,
                                                                                      uwsgi_facts):
    if not uwsgi_facts.gevent:
        pytest.skip("uWSGI %s has no gevent loop here" % uwsgi_facts.version)
    server = make_server(ini("gevent = 10", "gevent-monkey-patch = true", interval=interval))
    server.wait_for_body("one")
    # A thread of ours beside gevent's loop missed edits now and then: the
    # timer serves, in whole seconds.
    server.wait_for_log(r"^uwsgi_reload: watching \d+ files, checked every 1s by a uWSGI timer in each worker$")
    if interval == "0.5":
        server.wait_for_log(r"^uwsgi_reload: uwsgi-reload-interval = 0.5: gevent = is on, so a uWSGI timer scans")
    for body in ("two!", "three", "four!!"):
        write(app / "helper.py", 'MESSAGE = "%s"\n' % body)
        server.wait_for_body(body)
    assert server.count(r"^Exception ignored|KeyError") == 0
