"""When a worker scans: the classic recipe's uWSGI timer, or a thread where a timer cannot serve.

The timer is the ``@timer`` of ``uwsgidecorators``, or the ``uwsgi`` module's
own signal and timer API where the distribution ships no ``uwsgidecorators``
(Debian's ``python3-uwsgidecorators`` is a separate package). It is registered
once, in the master, before the fork: each worker gets the signal and scans
what it owns, between two requests, with Python threads off if need be, and
nothing is added when a worker is respawned. uWSGI timers take whole seconds,
and a worker cannot register one for itself (under ``lazy-apps`` its target
would be ignored and each respawn would add one): there a daemon thread in
each worker ticks instead.
"""

from __future__ import annotations

import threading
import time
from types import ModuleType
from typing import Callable, Optional

import uwsgi


def _decorators() -> Optional[ModuleType]:
    """``uwsgidecorators``, which raises at import without a master; None where it is missing."""
    try:
        import uwsgidecorators
    except ImportError:  # Debian without python3-uwsgidecorators
        return None
    return uwsgidecorators


def after_fork(function: Callable[[], None]) -> None:
    """Run *function* in every worker right after it is forked (and respawned)."""
    uwsgidecorators = _decorators()
    if uwsgidecorators is not None:
        # Through its chain: an app that imports uwsgidecorators later
        # replaces uwsgi.post_fork_hook with that chain.
        uwsgidecorators.postfork(function)
        return
    previous = getattr(uwsgi, "post_fork_hook", None)

    def chained() -> None:
        if callable(previous):
            previous()
        function()

    uwsgi.post_fork_hook = chained


def _free_signal() -> int:
    for number in range(1, 256):
        if not uwsgi.signal_registered(number):
            return number
    raise RuntimeError("all 255 uWSGI signals are taken")


def signal_every_worker(handler: Callable[[int], None]) -> int:
    """In the master: a uWSGI signal whose *handler* every worker runs between requests."""
    number = _free_signal()
    uwsgi.register_signal(number, "workers", handler)
    return number


def start_timer(seconds: int, handler: Callable[[int], None]) -> None:
    """In the master: *handler* runs in every worker every *seconds*."""
    uwsgidecorators = _decorators()
    if uwsgidecorators is not None:
        uwsgidecorators.timer(seconds, target="workers")(handler)
    else:
        uwsgi.add_timer(signal_every_worker(handler), seconds)


def start_thread(tick: Callable[[], float], first_wait: float) -> threading.Thread:
    """In a worker: call *tick* forever; it returns how long to wait before the next call."""

    def run() -> None:
        wait = first_wait
        while True:
            time.sleep(wait)
            wait = tick()

    thread = threading.Thread(target=run, name="uwsgi_reload", daemon=True)
    thread.start()
    return thread
