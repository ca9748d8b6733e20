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

Each worker scans once per interval, and the workers take turns: worker k
ticks (k-1)/N of an interval after worker 1, so an edit that N workers
imported is seen within interval/N, at no more CPU than N scans in step. A
thread keeps its turn on the clock. A timer's turn is the moment the master
adds it to its event loop (core/master.c registers a new timer on its next
loop, as a relative timerfd), so a short thread in each worker adds the
worker's own timer at its turn and wakes the master with that timer's
signal.
"""

from __future__ import annotations

import threading
import time
from types import ModuleType
from typing import Callable, Dict, Optional

import uwsgi

from ._worker import respawned


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


#: Turns are given to at most this many workers: uWSGI holds 64 timers in
#: all, for the app's timers too. Later workers tick with worker 1.
MAX_TURNS = 8


class TakeTurns:
    """A uWSGI timer in every worker, each worker at its own turn in the interval.

    Made in the master, before the fork. Worker 1 and every worker beyond
    the turns tick on a timer for all workers; each other worker gets a
    signal of its own, whose timer it adds at its turn: at once in its
    first life since the master started, and in a later life (respawned by
    max-requests, or by a restart of the workers) only if two shared ticks
    came without its own, because an earlier life died before adding it.
    Until its own tick comes it ticks with worker 1, so no worker is ever
    left without a tick, even where the master's timer table is full.
    """

    def __init__(self, seconds: int, handler: Callable[[int], None], turns: int, log: Callable[[str], None]) -> None:
        self.seconds = seconds
        self.handler = handler
        self.turns = turns
        self.log = log
        self.own_signals: Dict[int, int] = {}
        for worker in range(2, self.turns + 1):
            number = _free_signal()
            uwsgi.register_signal(number, "worker%d" % worker, self._own_tick)
            self.own_signals[worker] = number
        self._own_ticked_at: Optional[float] = None
        self._shared_ticks_alone = 0
        self._adding = False
        start_timer(seconds, self._shared_tick)

    def _own_tick(self, signum: int) -> None:
        self._own_ticked_at = time.monotonic()
        self.handler(signum)

    def _shared_tick(self, signum: int) -> None:
        worker = uwsgi.worker_id()
        if worker in self.own_signals and self._own_ticked_at is None and not self._adding:
            self._shared_ticks_alone += 1
            if not respawned() or self._shared_ticks_alone >= 2:
                # A shared tick marks worker 1's turn: this worker's own
                # comes (worker-1)/turns of an interval later.
                self._adding = True
                threading.Thread(target=self._add_own_timer, args=(worker,), name="uwsgi_reload turn",
                                 daemon=True).start()
        if self._own_ticked_at is not None and time.monotonic() - self._own_ticked_at < 1.5 * self.seconds:
            return  # this worker scans at its own turn
        self.handler(signum)

    def _add_own_timer(self, worker: int) -> None:
        time.sleep(self.seconds * (worker - 1) / self.turns)
        number = self.own_signals[worker]
        try:
            uwsgi.add_timer(number, self.seconds)
        except ValueError as error:  # the master's 64 timers are taken
            self.log("worker %d ticks with worker 1: no uWSGI timer of its own (%s)" % (worker, error))
            return
        # The master adds a timer on its next loop: wake it now, or the timer
        # would start with the next tick, worker 1's.
        uwsgi.signal(number)


def turn_offset(interval: float) -> float:
    """A ticking thread's turn: how far into each interval this worker scans."""
    workers = max(1, uwsgi.numproc)
    return interval * ((uwsgi.worker_id() - 1) % workers) / workers


def start_thread(tick: Callable[[], float], first_period: float, offset: float) -> threading.Thread:
    """In a worker: call *tick* forever, each time at *offset* into its period.

    *tick* returns the period before its next call. Each call comes at the
    next moment *offset* past a multiple of the period on the system's
    monotonic clock, which every worker shares, so the workers keep their
    turns whatever a scan costs.
    """

    def run() -> None:
        period = first_period
        while True:
            time.sleep(period - (time.monotonic() - offset) % period)
            period = tick()

    thread = threading.Thread(target=run, name="uwsgi_reload", daemon=True)
    thread.start()
    return thread
