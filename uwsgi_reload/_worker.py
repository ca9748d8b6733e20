"""Which uWSGI process this is, what its options say, and how it logs."""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping

import uwsgi

from ._options import printable

PREFIX = "uwsgi_reload: "


def option(opt: Mapping[str, Any], key: str) -> str:
    """The last value uWSGI holds for *key*, as text ('' when unset or a bare flag)."""
    value = opt.get(key)
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return "" if value is None or value is True else str(value)


def option_is_true(opt: Mapping[str, Any], key: str) -> bool:
    return opt.get(key) is True or option(opt, key).strip().lower() in {"1", "true", "yes", "on"}


def _instance_name(opt: Mapping[str, Any]) -> str:
    """How an Emperor's log tells this vassal from the others: its procname or config file."""
    for key in ("procname", "procname-master", "ini", "yaml", "json", "xml"):
        value = option(opt, key)
        if value:
            return printable(value if key.startswith("procname") else os.path.basename(value))
    return "pid %d" % uwsgi.masterpid()


# Vassals of an Emperor log into one stream: each line names its vassal.
_prefix = PREFIX
if os.environ.get("UWSGI_EMPEROR_FD"):
    _prefix = "%s[%s] " % (PREFIX, _instance_name(dict(uwsgi.opt)))


def log(message: str) -> None:
    uwsgi.log(_prefix + message)


def this_worker() -> Dict[str, Any]:
    """uWSGI's record of this worker (empty in the master)."""
    me = uwsgi.worker_id()
    for worker in uwsgi.workers():
        if worker.get("id") == me:
            return worker
    return {}


def respawned() -> bool:
    """True in a worker that replaced a dead one of the same instance start."""
    return this_worker().get("respawn_count", 0) > 0


def first_in_instance() -> bool:
    """The master, or worker 1 at the instance's start: the one that says things once."""
    worker = uwsgi.worker_id()
    return worker == 0 or (worker == 1 and not respawned())
