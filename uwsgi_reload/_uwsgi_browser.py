"""uwsgi-reload-browser inside uWSGI: put LiveReload around the app the ini loads,
and answer with the error page while that app cannot load.

What uWSGI 2.0 offers (plugins/python/pyloader.c; each point checked against a
real 2.0.31 on Python 3.11, see tests/test_browser.py):

- ``module = pkg.mod:callable`` is loaded by ``PyImport_ImportModule``, which
  calls ``builtins.__import__``. So a one-shot ``__import__`` installed by
  ``import = uwsgi_reload`` (which runs before the loaders) sees the app's
  module come in, and can wrap its callable, or, when the import raises,
  hand uWSGI a stand-in module whose callable is the error page. uWSGI then
  loads that like any app: every worker answers, in default and lazy-apps
  mode alike. (``uwsgi.applications`` is read by this loader too, but only
  after the module imported, so it cannot help a broken one.)
- ``wsgi-file = app.py`` is compiled and run by ``uwsgi_pyimport_by_filename``
  (``Py_CompileString`` + ``PyImport_ExecCodeModule``), with no import hook.
  ``PyImport_ExecCodeModule`` calls ``importlib._bootstrap_external.
  _fix_up_module`` just before running the code, and takes the module from
  ``sys.modules`` just after: a stand-in put there gives uWSGI our callable,
  which finds the file's own ``application`` when a request comes. When the
  file does not compile or raises, uWSGI drops it and loads no app at all.
- No app loaded: every request gets a bare 500 from C (wsgi_handlers.c), with
  no Python on the way. The only way left to answer is to load an app after
  the fact: ``init_uwsgi_app`` is exported by the uwsgi binary (and by the
  python plugin of distribution packages, which uWSGI loads RTLD_GLOBAL), and
  loading our callable with it (LOADER_CALLABLE) makes it the default app.
  When: the python plugin's ``init_apps`` ends, after every loader, with
  ``get_uwsgi_pydict("uwsgi")``, an ``__import__("uwsgi")`` from C (no Python
  frame, so its globals have no ``__name__``). The same one-shot
  ``__import__`` sees it: in the master before the fork (uWSGI copies the
  app to every worker), in each lazy-apps worker before it accepts. A
  ``postfork`` check stays as a fallback in default mode.
"""

from __future__ import annotations

import builtins
import ctypes
import os
import sys
import types
from typing import Any, Callable, Dict, List, Optional

import uwsgi

from ._browser import (
    KEYS, ClientFilter, ErrorPage, LiveReload, poll_seconds, read_browser_options, wide_networks,
)
from ._options import collect_values, printable
from . import _ticks
from ._worker import first_in_instance, log, option, option_is_true

# plugins/python/uwsgi_python.h
LOADER_CALLABLE = 5
PYTHON_APP_TYPE_WSGI = 0


def pythonized(path: str) -> str:
    """The module name uWSGI gives a wsgi-file (``uwsgi_pythonize`` in python_plugin.c)."""
    for scheme in ("sym://", "http://", "data://"):
        if path.startswith(scheme):
            path = path[len(scheme):]
            break
    name = path.replace(".", "_").replace("/", "_")
    return "uwsgi_file_" + (name[:-3] if len(name) >= 3 and name.endswith("_py") else name)


class Browser:
    """The browser side of one uWSGI process: what wraps apps, and what stands in for them."""

    def __init__(self, generation: Callable[[], str], poll: float, allowed: ClientFilter, need_app: bool) -> None:
        self.generation = generation
        self.poll = poll
        self.allowed = allowed
        self.need_app = need_app
        self.load_error: Optional[BaseException] = None
        self.error_apps: List[Any] = []  # kept alive: uWSGI holds bare pointers to them
        self.wrapped = False  # by one of our hooks, or by live_reload() in the app's code
        self.hinted = False  # the line about live_reload() has been logged

    def wrap(self, app: Any) -> Any:
        self.wrapped = True
        if isinstance(app, LiveReload):
            return app
        return LiveReload(app, self.generation, self.allowed, self.poll)

    def hint(self, why: str) -> None:
        if not self.hinted:
            self.hinted = True
            log("uwsgi-reload-browser cannot wrap the app from the ini (%s): add "
                "application = uwsgi_reload.live_reload(application) to the code" % why)

    def error_app(self, error: Optional[BaseException]) -> LiveReload:
        app = self.wrap(ErrorPage(error, self.allowed, log=uwsgi.log))
        self.error_apps.append(app)
        return app

    def report(self, error: BaseException) -> None:
        """What uWSGI's PyErr_Print would have done with an error we catch instead:
        log the traceback through sys.excepthook (which also makes uwsgi_reload
        watch the files in it) and set sys.last_*."""
        drop_our_frames(error)
        sys.last_type, sys.last_value, sys.last_traceback = type(error), error, error.__traceback__
        sys.excepthook(type(error), error, error.__traceback__)


_active: List[Browser] = []


def active() -> Optional[Browser]:
    return _active[0] if _active else None


# -- module = ---------------------------------------------------------------------------


class _ImportHook:
    """``builtins.__import__`` from activation until the python plugin's loaders are done.

    It sees the ``module =`` app's module come in (*module*, then the
    callbacks), and the ``__import__("uwsgi")`` from C that ends
    ``init_apps`` (*loaders_done*). The ``module =`` loader also imports
    ``uwsgi`` from C before the app's module: only one after that counts.
    """

    def __init__(
        self,
        module: Optional[str],
        loaded: Callable[[Any], None],
        failed: Optional[Callable[[Exception], Any]],
        loaders_done: Callable[[], None],
    ) -> None:
        self.module = module
        self.loaded = loaded
        self.failed = failed
        self.loaders_done: Optional[Callable[[], None]] = loaders_done
        self.original = builtins.__import__
        builtins.__import__ = self

    def remove(self) -> None:
        self.module = self.loaders_done = None
        if builtins.__import__ is self:
            builtins.__import__ = self.original  # else someone wrapped us: we pass through

    def __call__(self, name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        if level:
            return self.original(name, globals, locals, fromlist, level)
        if name == self.module:
            self.module = None
            return self._app_module(name, globals, locals, fromlist)
        if name == "uwsgi" and self.module is None and self.loaders_done is not None and not (
            isinstance(globals, dict) and "__name__" in globals
        ):
            done = self.loaders_done
            self.remove()
            result = self.original(name, globals, locals, fromlist, level)
            done()
            return result
        return self.original(name, globals, locals, fromlist, level)

    def _app_module(self, name: str, globals: Any, locals: Any, fromlist: Any) -> Any:
        try:
            result = self.original(name, globals, locals, fromlist, 0)
        except Exception as error:
            if self.failed is None:
                raise
            standin = self.failed(error)
            sys.modules[name] = standin
            # What __import__ returns for "a.b" without a fromlist is "a".
            return standin if fromlist or "." not in name else sys.modules.get(name.partition(".")[0], standin)
        self.loaded(sys.modules.get(name))
        return result


_HOOK_CODES = (_ImportHook.__call__.__code__, _ImportHook._app_module.__code__)


def drop_our_frames(error: BaseException) -> None:
    """Take the hook's frames out of *error*'s traceback, and its causes'.

    While the app loads, each of its imports passes through the hook, so each
    would show a frame of ours between two of the app's: noise in the log and
    on the error page (importlib hides its own frames the same way).
    """
    seen = set()
    current: Optional[BaseException] = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None and tb.tb_frame.f_code in _HOOK_CODES:
            tb = tb.tb_next
        current.__traceback__ = tb
        while tb is not None and tb.tb_next is not None:
            if tb.tb_next.tb_frame.f_code in _HOOK_CODES:
                tb.tb_next = tb.tb_next.tb_next
            else:
                tb = tb.tb_next
        current = current.__cause__ or current.__context__


def _module_callbacks(browser: Browser, spec: str, default_callable: str) -> "tuple[str, Any, Any]":
    """For ``module = spec``: the module's name, and what to do once it imported or failed."""
    name, _, attribute = spec.partition(":")
    attribute = attribute or default_callable
    factory = attribute.endswith("()")
    attribute = attribute[:-2] if factory else attribute

    def loaded(module: Any) -> None:
        if module is None:
            return
        for apps in (getattr(uwsgi, "applications", None), getattr(module, "applications", None)):
            if isinstance(apps, dict):  # a multi-app module: uWSGI mounts each value
                for key, value in list(apps.items()):
                    if callable(value):
                        apps[key] = browser.wrap(value)
                return
        found = getattr(module, attribute, None)
        if found is None:
            missing = LookupError("%s has no callable named %r" % (name, attribute))
            app = browser.error_app(missing)
            setattr(module, attribute, (lambda: app) if factory else app)
        elif factory:
            setattr(module, attribute, _wrapped_factory(browser, found))
        else:
            setattr(module, attribute, browser.wrap(found))

    def failed(error: Exception) -> Any:
        browser.report(error)
        browser.load_error = error
        standin = types.ModuleType(name)
        app = browser.error_app(error)
        setattr(standin, attribute, (lambda: app) if factory else app)
        return standin

    return name, loaded, None if browser.need_app else failed


def _wrapped_factory(browser: Browser, factory: Callable[[], Any]) -> Callable[[], Any]:
    def make_app() -> Any:
        try:
            app = factory()
        except Exception as error:
            if browser.need_app:
                raise
            browser.report(error)
            browser.load_error = error
            return browser.error_app(error)
        return browser.wrap(app)

    return make_app


# -- wsgi-file = --------------------------------------------------------------------------


class _LoadedFile(types.ModuleType):
    """Stands in ``sys.modules`` for a wsgi-file: uWSGI takes the callable from
    here, anything else (pickle, ``__file__``) reads the file's own namespace."""

    def __init__(self, name: str, namespace: Dict[str, Any]) -> None:
        super().__init__(name)
        for shadowing in ("__doc__", "__package__", "__loader__", "__spec__"):
            self.__dict__.pop(shadowing, None)
        self.__dict__["_uwsgi_reload_namespace"] = namespace

    def __getattr__(self, attribute: str) -> Any:
        try:
            return self.__dict__["_uwsgi_reload_namespace"][attribute]
        except KeyError:
            raise AttributeError(attribute) from None


class _FileApp:
    """The wsgi-file's callable, looked up in its namespace at each request."""

    def __init__(self, browser: Browser, namespace: Dict[str, Any], attribute: str, path: str) -> None:
        self.browser = browser
        self.namespace = namespace
        self.attribute = attribute
        self.path = path
        self.missing: Optional[Any] = None

    def __call__(self, environ: Dict[str, Any], start_response: Any) -> Any:
        app = self.namespace.get(self.attribute)
        if callable(app):
            return app(environ, start_response)
        if self.missing is None:
            self.missing = self.browser.error_app(
                LookupError("%s defines no callable named %r" % (self.path, self.attribute))
            )
        return self.missing(environ, start_response)


def _wrap_file(browser: Browser, path: str, attribute: str) -> str:
    name = pythonized(path)
    if name in sys.modules:
        return "%s is importing uwsgi_reload itself" % printable(path)
    from importlib import _bootstrap_external as external  # what PyImport_ExecCodeModule calls
    original = external._fix_up_module

    def fix_up(namespace: Dict[str, Any], module_name: str, pathname: Any, cpathname: Any = None) -> None:
        original(namespace, module_name, pathname, cpathname)
        if module_name != name:
            return
        if external._fix_up_module is fix_up:
            external._fix_up_module = original
        standin = _LoadedFile(name, namespace)
        standin.__dict__[attribute] = browser.wrap(_FileApp(browser, namespace, attribute, path))
        sys.modules[name] = standin  # what uWSGI takes once the file has run

    external._fix_up_module = fix_up
    return ""


# -- no app loaded -----------------------------------------------------------------------


_REQUEST: List[Any] = []


def load_app(app: Any) -> bool:
    """Make *app* this worker's default app, as if uWSGI had loaded it."""
    try:
        init_uwsgi_app = ctypes.PyDLL(None).init_uwsgi_app  # PyDLL: keeps the GIL
    except (AttributeError, OSError):
        return False
    init_uwsgi_app.restype = ctypes.c_int
    init_uwsgi_app.argtypes = (ctypes.c_int, ctypes.py_object, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
    if not _REQUEST:
        # It reads the mountpoint, chdir, home and touch-reload fields of a
        # struct wsgi_request: all zero (no mountpoint = the default app). The
        # real struct is a few KB; zeroes to spare.
        _REQUEST.append(ctypes.create_string_buffer(1 << 16))
    return init_uwsgi_app(LOADER_CALLABLE, app, ctypes.addressof(_REQUEST[0]), None, PYTHON_APP_TYPE_WSGI) >= 0


def _apps_here() -> bool:
    """Whether this process has an app: a worker's own slot; in the master,
    worker 1's (uWSGI copies each app the master loads to every slot)."""
    workers = uwsgi.workers()
    me = uwsgi.worker_id()
    slot = next((w for w in workers if w.get("id") == me), {}) if me else (workers[0] if workers else {})
    return bool(slot.get("apps"))


def _answer_without_app(browser: Browser, first: bool) -> None:
    if _apps_here():
        if first and not browser.wrapped:
            # A loader or a Python version where our hooks were never called.
            browser.hint("the app loaded without passing through uwsgi_reload")
        return
    if browser.need_app:
        return  # uWSGI stops the instance, as asked
    if load_app(browser.error_app(browser.load_error)):
        if first:
            log("the app did not load: clients from %s get the error page until a fix is saved"
                % browser.allowed.describe())
    elif first:
        log("the app did not load, and this uWSGI offers no way to answer in its place: "
            "requests get uWSGI's bare 500 until a fix is saved")


def _record_load_errors(browser: Browser) -> None:
    """Keep the last exception uWSGI printed (a loader calls PyErr_Print)."""
    previous = sys.excepthook

    def excepthook(exc_type: Any, value: Any, tb: Any) -> None:
        if isinstance(value, BaseException):
            try:
                drop_our_frames(value)
                tb = value.__traceback__
            except Exception:
                pass  # the report matters more
            browser.load_error = value
        previous(exc_type, value, tb)

    sys.excepthook = excepthook


# -- activation ----------------------------------------------------------------------------


def activate(generation: Callable[[], str], scan_interval: float) -> Optional[Browser]:
    """Turn uwsgi-reload-browser on when the ini asks for it; None when it does not.

    Never raises: whatever goes wrong here is a log line, and reloading goes on.
    """
    try:
        return _activate(generation, scan_interval)
    except Exception as error:
        log("uwsgi-reload-browser could not start (%s); reloading goes on without it" % printable(repr(error)))
        return None


def _activate(generation: Callable[[], str], scan_interval: float) -> Optional[Browser]:
    if _active:
        return _active[0]
    opt = uwsgi.opt
    values, problems = collect_values(opt, [os.environ["PWD"]] if os.environ.get("PWD") else [], KEYS)
    options, more = read_browser_options(values)
    first = first_in_instance()
    if first:
        for problem in problems + more:
            log(problem)
    if not options.enabled:
        return None
    browser = Browser(generation, poll_seconds(scan_interval), ClientFilter(options.allow), option_is_true(opt, "need-app"))
    _active.append(browser)
    _record_load_errors(browser)

    module, wsgi_file = option(opt, "module") or option(opt, "wsgi"), option(opt, "wsgi-file") or option(opt, "file")
    default_callable = option(opt, "callable") or "application"
    problem = ""
    if _apps_here():
        problem = "it was loaded before uwsgi_reload"
    elif module or wsgi_file:
        name, loaded, failed = None, (lambda module: None), None
        if module:
            name, loaded, failed = _module_callbacks(browser, module, default_callable)
            current = sys.modules.get(name)
            if current is not None and getattr(getattr(current, "__spec__", None), "_initializing", False):
                problem = "%s is importing uwsgi_reload itself" % printable(name)
        else:
            problem = _wrap_file(browser, wsgi_file, default_callable)
        if not problem:
            _ImportHook(name, loaded, failed, lambda: _answer_without_app(browser, first))
    else:
        problem = "the app is not loaded by module = or wsgi-file ="
    if first:
        log("browser refresh on: pages shown to clients from %s refresh once the instance serves new code "
            "(they ask every %gs), and show the error while the app cannot load" % (browser.allowed.describe(), browser.poll))
        if problem:
            browser.hint(problem)
        for network in wide_networks(options.allow):
            log("uwsgi-reload-browser-allow = %s reaches beyond private addresses: everyone there "
                "can see the app's tracebacks" % network)

    if uwsgi.worker_id() == 0:
        # A fallback, once every loader (mount = too) is done: a worker
        # without an app gets the error page here, should init_apps not have
        # ended with the import our hook waits for (or no hook was set).
        def after_fork() -> None:
            try:
                _answer_without_app(browser, first_in_instance())
            except KeyboardInterrupt:
                os._exit(0)  # a stop during the fork: see _uwsgi.start_after_fork
            except Exception as error:
                log("could not set up the error page: %s" % printable(repr(error)))

        _ticks.after_fork(after_fork)
    return browser
