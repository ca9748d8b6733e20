"""What in a uWSGI setup a developer should hear about. Pure: no ``uwsgi``."""

from __future__ import annotations

import os
from typing import Any, Dict, List

from ._options import printable

#: Filesystems whose clients get no inotify event for a write made elsewhere
#: (the host of a VM or container): polling is the only way to see those edits.
SHARED_FOLDER_TYPES = {
    "vboxsf", "nfs", "nfs4", "9p", "virtiofs", "cifs", "smb3", "smbfs", "prl_fs", "vmhgfs",
    "fuse.vmhgfs-fuse", "fuse.sshfs", "fuse.osxfs", "fuse.grpcfuse", "fakeowner",
}


def _is_true(value: Any) -> bool:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value is True or str(value).strip().lower() in {"1", "true", "yes", "on"}


def misconfigurations(opt: Dict[str, Any]) -> List[str]:
    """One line for each setting that makes development reloads worse."""
    lines = []
    if any(key in opt for key in ("http", "https")):
        lines.append(
            "the http router (http =) is a separate process that drops in-flight and new "
            "requests during a reload; use http-socket = instead for development"
        )
    if _is_true(opt.get("need-app", False)):
        lines.append(
            "need-app is on: an app that fails to load stops the instance, so fixing the "
            "file cannot bring it back; set need-app = false for development"
        )
    if _is_true(opt.get("strict", False)):
        lines.append(
            "strict = true: uWSGI refuses plain uwsgi-reload-* keys in this mode; "
            "write them as set-placeholder = uwsgi-reload-interval=1"
        )
    if _is_true(opt.get("lazy", False)):
        lines.append("lazy = true also reloads workers one by one; lazy-apps = true is enough")
    public = _public_address(opt)
    if public and opt.get("harakiri"):
        # Our guess at production: reachable from other machines and guarding
        # against stuck requests. A Vagrant box listens on 0.0.0.0 too, but
        # rarely sets harakiri.
        line = (
            "active on a server listening on %s with harakiri: this looks like production; "
            "set uwsgi-reload = false there" % printable(public)
        )
        if _is_true(opt.get("uwsgi-reload-browser", False)):
            line += (
                ", which also turns off uwsgi-reload-browser (on here: it shows the app's "
                "tracebacks to loopback and the addresses in uwsgi-reload-browser-allow)"
            )
        lines.append(line)
    return lines


def shared_folder(path: str, mounts: str) -> str:
    """The filesystem type of *path* when it is a shared folder, from /proc/mounts text."""
    best, kind = "", ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) > len(best):
            best, kind = mount_point, fields[2]
    return kind if kind in SHARED_FOLDER_TYPES else ""


def _public_address(opt: Dict[str, Any]) -> str:
    """The first socket address not on loopback or a unix socket, or ''."""
    for key in ("http-socket", "socket", "uwsgi-socket", "http", "https"):
        value = opt.get(key)
        for address in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(address, bytes):
                address = address.decode("utf-8", "replace")
            if not isinstance(address, str) or ":" not in address or address.startswith("/"):
                continue
            host = address.rsplit(":", 1)[0].split(",")[0]
            if host not in ("127.0.0.1", "localhost", "[::1]", "::1") and not host.startswith("127."):
                return address.split(",")[0]
    return ""


def server_log_files(opt: Dict[str, Any]) -> List[str]:
    """Files uWSGI itself writes its log to: they change at every request."""
    paths = []
    for key in ("logto", "logto2", "daemonize", "daemonize2", "logger", "req-logger"):
        value = opt.get(key)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, bytes):
                item = item.decode("utf-8", "surrogateescape")
            if not isinstance(item, str) or not item:
                continue
            if key.endswith("logger"):
                # Only "file:/path" (or "name file:/path") loggers write a file.
                if "file:" in item:
                    paths.append(item.split("file:", 1)[1])
            else:
                paths.append(item)
    for fd in (1, 2):  # a log redirected by the shell or a supervisor
        try:
            paths.append(os.readlink("/proc/self/fd/%d" % fd))
        except OSError:
            pass
    return [path for path in paths if not path.startswith(("pipe:", "socket:", "/dev/"))]


def reexec_breaks(target: str, prefix: str, base_prefix: str, pyuwsgi: bool) -> str:
    """The ini line that keeps a pyuwsgi instance alive across reloads, or '' when it is fine.

    A reload re-execs *target* (``binary-path``, else ``/proc/self/exe``).
    pyuwsgi runs uWSGI inside a Python interpreter; in a virtualenv that
    interpreter is usually a link to the base one, which /proc/self/exe
    resolves, and the base interpreter cannot import pyuwsgi: the first
    reload kills the instance (uWSGI #2478).
    """
    if not pyuwsgi or prefix == base_prefix:
        return ""
    home = os.path.dirname(os.path.dirname(target))
    if os.path.exists(os.path.join(home, "pyvenv.cfg")) or os.path.exists(os.path.join(os.path.dirname(target), "pyvenv.cfg")):
        return ""
    return "binary-path = %s" % os.path.join(prefix, "bin", "python")
