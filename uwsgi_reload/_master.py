"""A quick reload: the master notices each exiting worker at once.

uWSGI's master looks for dead workers only when its event loop wakes
(``master_loop`` in core/master.c), which with nothing going on is once a
second: a graceful reload sat idle about a second after the last worker had
gone. A do-nothing SIGCHLD handler in the master wakes that loop at each exit
(``epoll_wait`` is never restarted after a handler runs).
"""

from __future__ import annotations

import signal
from typing import Any


def _child_exited(signum: int, frame: Any) -> None:
    """Nothing to do: being called has already woken the master's event loop."""


def wake_on_child_exit() -> None:
    """In the master, before fork: make each worker's exit wake the master at once."""
    if signal.getsignal(signal.SIGCHLD) is not signal.SIG_DFL:
        return  # the app has its own handler, or children are ignored: leave it be
    try:
        signal.signal(signal.SIGCHLD, _child_exited)
    except ValueError:
        return  # not the main thread of the main interpreter: reloads keep uWSGI's pace
    # SA_RESTART: other system calls of the master and its children carry on
    # as before; epoll_wait still returns at once.
    signal.siginterrupt(signal.SIGCHLD, False)


def restore_in_worker() -> None:
    """In a worker: its own children are the app's business, as without us."""
    if signal.getsignal(signal.SIGCHLD) is _child_exited:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
