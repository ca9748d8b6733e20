"""``python -m uwsgi_reload``: what an app would have watched, and why a file is not."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from typing import Dict, List, Optional

from . import _watcher
from ._hooks import files_of_exception
from ._options import KEYS, Options, printable, read_ini_values, read_options

APP_KEYS = ("chdir", "pythonpath", "wsgi-file", "file", "module", "wsgi")


def _ini_settings(ini: str) -> Dict[str, List[str]]:
    path, _, section = ini.partition(":") if not os.path.exists(ini) else (ini, "", "")
    path = os.path.abspath(path)
    return read_ini_values(path, section or "uwsgi", {}, keys=KEYS + APP_KEYS)


def _load_app(target: str, settings: Dict[str, List[str]]) -> Optional[BaseException]:
    """Import the app as uWSGI would; the exception if it fails to load."""
    for directory in settings.get("chdir", [])[-1:]:
        os.chdir(directory)
    for entry in reversed(settings.get("pythonpath", [])):
        sys.path.insert(0, os.path.abspath(entry))
    sys.path.insert(0, os.getcwd())
    wsgi_file = (settings.get("wsgi-file") or settings.get("file") or [None])[-1]
    module = (settings.get("module") or settings.get("wsgi") or [None])[-1]
    if wsgi_file is None and module is None:
        if target.endswith(".py") or os.path.isfile(target):
            wsgi_file = target
        else:
            module = target
    try:
        if wsgi_file is not None:
            name = "uwsgi_file_" + os.path.splitext(os.path.basename(wsgi_file))[0]
            spec = importlib.util.spec_from_file_location(name, os.path.abspath(wsgi_file))
            if spec is None or spec.loader is None:
                raise ImportError("cannot load %s" % wsgi_file)
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[name] = loaded
            spec.loader.exec_module(loaded)
        else:
            importlib.import_module(module.split(":", 1)[0])  # type: ignore[union-attr]
    except Exception as error:  # the app's own failure is what we report
        for path in files_of_exception(error):
            _watcher.watch_error_file(path)
        return error
    return None


def _options_for(target: str) -> "tuple[Options, Dict[str, List[str]], List[str]]":
    if target.endswith(".ini") or ".ini:" in target:
        options, problems = read_options({"ini": os.fsencode(target)})
        return options, _ini_settings(target), problems
    return Options(), {}, []


def _relative(path: str) -> str:
    relative = os.path.relpath(path)
    return printable(path if relative.startswith("..") else relative)


def command_files(target: str, why: List[str]) -> int:
    options, settings, problems = _options_for(target)
    for problem in problems:
        print("uwsgi_reload: " + problem, file=sys.stderr)
    _watcher.ignore(*options.ignore)
    _watcher.watch(*options.extra)
    why_paths = [os.path.abspath(path) for path in why]
    error = _load_app(target, settings)
    if error is not None:
        print(
            "uwsgi_reload: the app failed to load (%s: %s); its files are watched as error files"
            % (type(error).__name__, printable(str(error))),
            file=sys.stderr,
        )
    if why_paths:
        for path in why_paths:
            reason = _watcher.why_not_watched(path)
            print("%s: %s" % (_relative(path), reason or "watched"))
        return 0
    for path in _watcher.watched_files():
        print(_relative(path))
    return 0


def command_options(ini: str) -> int:
    options, _, problems = _options_for(ini)
    for problem in problems:
        print("uwsgi_reload: " + problem, file=sys.stderr)
    print("uwsgi-reload = %s" % ("true" if options.enabled else "false"))
    print("uwsgi-reload-interval = %g" % options.interval)
    print("uwsgi-reload-extra-files = %s" % " ".join(map(printable, options.extra)))
    print("uwsgi-reload-ignore = %s" % " ".join(map(printable, options.ignore)))
    print("uwsgi-reload-preload = %s" % ("true" if options.preload else "false"))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m uwsgi_reload",
        description="Show what uwsgi_reload would watch for an app, without uWSGI.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    files = commands.add_parser(
        "files",
        help="list the files an app would have watched",
        description="Load the app as uWSGI would (this runs its import-time code) and "
        "list the files uwsgi_reload would watch.",
    )
    files.add_argument("target", help="a uWSGI ini file (uwsgi.ini or uwsgi.ini:section), a WSGI file, or a module")
    files.add_argument("--why", action="append", default=[], metavar="PATH", help="say why PATH is or is not watched")
    options = commands.add_parser(
        "options",
        help="print the effective uwsgi-reload options of an ini file",
        description="Every value counts, also of repeated keys (which uWSGI 2.0 drops).",
    )
    options.add_argument("ini", help="a uWSGI ini file (uwsgi.ini or uwsgi.ini:section)")
    args = parser.parse_args(argv)
    if args.command == "files":
        return command_files(args.target, args.why)
    return command_options(args.ini)


if __name__ == "__main__":
    sys.exit(main())
