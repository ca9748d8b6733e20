"""Processes the tests and benchmarks start: free loopback ports, stop by PID.

Free of pytest, so benchmarks/ can use it too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from typing import List


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def session_pids(session: int) -> List[int]:
    """Every live process of a session (uWSGI's master started it)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state, fields[3] the session id; Z = zombie.
        if int(fields[3]) == session and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def stop_session(session: int, grace: float = 5.0) -> None:
    """SIGINT each live process of a session (it stops uWSGI 2.0), then SIGKILL what is left.

    A uWSGI worker forked a moment before a SIGINT may still run the master's
    handler and ignore it, so every process is signalled by PID, not only the
    master.
    """
    for sig in (signal.SIGINT, signal.SIGKILL):
        leftovers = session_pids(session)
        if not leftovers:
            return
        for pid in leftovers:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while session_pids(session) and time.monotonic() < deadline:
            time.sleep(0.1)


def stop_server(process: "subprocess.Popen[bytes]") -> None:
    """Stop a uWSGI started with start_new_session=True: SIGINT stops the master
    (SIGTERM would reload it), then every leftover of its session by PID."""
    session = process.pid
    if process.poll() is None:
        os.kill(session, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    stop_session(session)
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
