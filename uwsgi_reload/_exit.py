"""When and how a worker leaves: only between two requests, and then at once.

uWSGI's graceful exit (``gracefully_kill`` in core/uwsgi.c, the workers'
SIGHUP handler) leaves at once when ``in_request`` is 0, but uWSGI sets it only
in ``wsgi_req_recv``, after ``accept()`` (``wsgi_req_accept`` in core/utils.c).
A reload's SIGHUP that lands between the two closes an accepted connection
nobody read: the client gets a reset (5 of 800 reloads under heavy load).
So a worker holds SIGHUP blocked and leaves only from a uWSGI signal
handler, which uWSGI runs before ``accept()``: the reloader sends one to every
worker right after asking for the reload; a reload that comes from elsewhere
(``kill -HUP``, ``touch-reload``) takes effect at the worker's next tick. Only
the plain request loop holds SIGHUP: with ``threads`` uWSGI's handler does not
exit there, and on an async loop it exits whatever is in flight, with or
without us.

Leaving is quick. uWSGI ends a leaving worker (reload, stop, max-requests) with ``Py_Finalize()``
(``uwsgi_python_atexit``, plugins/python/python_plugin.c). That first joins
every non-daemon thread, so an APM agent, a queue consumer or a poller started
by the app holds the worker until the master's ``worker-reload-mercy`` (60 s,
"NO MERCY"); then it tears the interpreter down, which costs 0.6-0.75 s on a
real Django or Flask app. ``threading._register_atexit`` callbacks are the
first thing ``Py_Finalize()`` runs: from there the worker waits a short,
bounded time for those threads, runs the ``atexit`` callbacks (which flush and
close the ``logging`` handlers), flushes stdio, and exits with the code uWSGI
was exiting with. What the teardown alone would have done is skipped: files
the app left open are not flushed by their destructors.

uWSGI skips all of this, ``Py_Finalize()`` included, for a worker that is busy
with a request when it is told to go (a stop, or ``worker-reload-mercy``
running out) and under ``async``: no callback runs there, as without us. With
``skip-atexit-teardown = true`` uWSGI never calls ``Py_Finalize()`` and this
does nothing.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
import traceback
from typing import Callable, List

import uwsgi

#: How long a leaving worker waits for the app's non-daemon threads, in total.
THREAD_WAIT = 0.5

# A worker reaches Py_Finalize() from one of two places in core/uwsgi.c:
# gracefully_kill(), the SIGHUP handler of a reload, which exits with
# UWSGI_RELOAD_CODE, and end_me(), for SIGINT and SIGTERM or when the request
# loop ends (max-requests, a reload that found it busy), with UWSGI_END_CODE.
# Every other exit of a worker happens in a request or before the app is
# loaded, where uWSGI does not finalize Python. The master ignores the code
# while it reloads or stops.
RELOAD_CODE = 17
END_CODE = 30


_holding = False


def hold_reloads() -> None:
    """In a new worker: a reload's SIGHUP waits until the worker is between requests."""
    global _holding
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGHUP])
    _holding = True


def reload_pending() -> bool:
    """A reload asked this worker to leave, and it still holds the signal."""
    return _holding and signal.SIGHUP in signal.sigpending()


def leave_between_requests() -> None:
    """From a uWSGI signal handler, where no connection is in hand: leave now.

    Not through uWSGI's exit: inside a signal handler it counts the worker as
    busy (``uwsgi_worker_is_busy``) and skips every ``atexit`` callback, so
    this runs them itself, ``uwsgi.atexit`` first as uWSGI does. A pending
    SIGHUP dies with the worker. Where nothing is held (``threads``, an async
    loop) uWSGI's own graceful exit is the one that knows the other cores.
    """
    if not _holding:
        os.kill(os.getpid(), signal.SIGHUP)
        return
    app_atexit = getattr(uwsgi, "atexit", None)
    if callable(app_atexit):
        try:
            app_atexit()
        except Exception:
            traceback.print_exc()
    _leave(RELOAD_CODE, stopping=False)


_log: Callable[[str], None] = print
_on_stop: Callable[[], None] = lambda: None


def _leave(code: int, stopping: bool) -> None:
    """The app's threads (bounded), its atexit callbacks, stdio, then out with *code*."""
    still_running = join_threads(THREAD_WAIT)
    if still_running:
        _log(
            "worker %d left without waiting more than %gs for its non-daemon thread%s %s"
            % (uwsgi.worker_id(), THREAD_WAIT, "s" if len(still_running) > 1 else "", ", ".join(still_running))
        )
    try:
        atexit._run_exitfuncs()
        if stopping:
            _on_stop()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def install(log: Callable[[str], None], on_stop: Callable[[], None]) -> None:
    """Make every leaving worker quick. *on_stop* runs when the instance stops."""
    global _log, _on_stop
    _log, _on_stop = log, on_stop

    def leave() -> None:
        if uwsgi.worker_id() <= 0:
            return  # a mule or a spooler: uWSGI's way
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        # exit() runs inside uWSGI's handler of the signal that ends this
        # worker, so that signal is blocked here (SIGHUP also while held).
        reloading = signal.SIGHUP in blocked and not _holding
        _leave(RELOAD_CODE if reloading else END_CODE, stopping=signal.SIGINT in blocked)

    threading._register_atexit(leave)  # type: ignore[attr-defined]  # Python 3.9+


def join_threads(timeout: float) -> List[str]:
    """Wait up to *timeout* s in all for the non-daemon threads; the names of those still running."""
    deadline = time.monotonic() + timeout
    current = threading.current_thread()
    waiting = [
        thread for thread in threading.enumerate()
        if not thread.daemon and thread is not current and thread is not threading.main_thread()
    ]
    for thread in waiting:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [repr(thread.name) for thread in waiting if thread.is_alive()]
