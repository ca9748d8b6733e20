"""What the workers of one uWSGI instance share, kept where no other user can reach it.

Pure: no ``uwsgi``. The state of an instance is one small JSON file in a
directory that this user owns, that only this user can enter (mode 0700) and
that is not a symbolic link, opened through a directory descriptor and without
following links, so that nobody else can read it, plant it, or swap it for
another file. It is keyed by the master's PID *and* its PID namespace *and* its
start time, so two instances never share a file: not two containers whose
masters have the same PID, and not an instance started later on a reused PID.
The key is stable across the master's re-exec, so the state outlives a reload.

Its content is never trusted: a field of the wrong type reads as absent.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat as _stat
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

DIRECTORY_NAME = "uwsgi_reload-%d"
#: A state file has no business growing past this; a bigger one is not read.
MAX_STATE_BYTES = 256 * 1024
#: Waiting for another worker's update of the state takes microseconds; past
#: this, something holds the lock for good, and the update goes without it.
LOCK_WAIT = 2.0
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class NoPrivatePlace(Exception):
    """No directory where the state would be safe: the message says why."""


def candidate_bases(environ: Mapping[str, str] = os.environ) -> List[str]:
    """Where a private directory may go: the per-user runtime dir first, then the temp dirs."""
    bases = [environ.get("XDG_RUNTIME_DIR", "")]
    bases += [environ.get(name, "") for name in ("TMPDIR", "TEMP", "TMP")]
    bases += ["/tmp", "/var/tmp", "/usr/tmp", "/dev/shm"]
    seen: List[str] = []
    for base in bases:
        if base and os.path.isabs(base) and base not in seen:
            seen.append(base)
    return seen


def _verified(fd: int, uid: int) -> str:
    """'' when *fd* is a writable directory only *uid* owns and can enter, else why not."""
    st = os.fstat(fd)
    if not _stat.S_ISDIR(st.st_mode):
        return "not a directory"
    if st.st_uid != uid:
        return "owned by uid %d" % st.st_uid
    if st.st_mode & 0o077:
        return "mode %o lets other users in" % _stat.S_IMODE(st.st_mode)
    if os.fstatvfs(fd).f_flag & os.ST_RDONLY:
        return os.strerror(errno.EROFS)
    return ""


def open_private_directory(bases: List[str], uid: Optional[int] = None) -> "Tuple[int, str, List[str]]":
    """A descriptor of this user's private directory, its path, and why earlier places were refused.

    The first usable base gets ``uwsgi_reload-<uid>``, created with mode 0700
    if needed. One that exists but is not private (someone else made it, or
    made it a link) is refused, and the next base is tried. Raises
    NoPrivatePlace, listing why each base was refused, when none will do.
    """
    uid = os.geteuid() if uid is None else uid
    name = DIRECTORY_NAME % uid
    refused: List[str] = []
    for base in bases:
        path = os.path.join(base, name)
        try:
            base_fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # e.g. no /usr/tmp: nothing to say
        except OSError as error:
            refused.append("%s: %s" % (base, error.strerror))
            continue
        try:
            try:
                os.mkdir(name, 0o700, dir_fd=base_fd)
            except FileExistsError:
                pass
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=base_fd)
        except OSError as error:
            reason = "a symbolic link" if error.errno in (errno.ELOOP, errno.ENOTDIR) else error.strerror
            refused.append("%s: %s" % (path, reason))
            continue
        finally:
            os.close(base_fd)
        problem = _verified(fd, uid)
        if not problem:
            return fd, path, refused
        os.close(fd)
        refused.append("%s: %s" % (path, problem))
    raise NoPrivatePlace("; ".join(refused) or "no temporary directory is set")


def _pid_namespace() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def process_start(pid: int) -> Optional[int]:
    """When *pid* started, in clock ticks since boot (``/proc/<pid>/stat``), or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    try:
        return int(fields[19])  # field 22 of the file; [0] is field 3, the state
    except (IndexError, ValueError):
        return None


def instance_key(master_pid: int) -> str:
    """``<pid namespace>-<master pid>-<master start time>``: unique to one instance."""
    return "%d-%d-%d" % (_pid_namespace(), master_pid, process_start(master_pid) or 0)


def _clean(raw: Any) -> Dict[str, Any]:
    """Only the fields the state may have, each of the right type."""
    clean: Dict[str, Any] = {}
    if not isinstance(raw, dict):
        return clean
    for key in ("generation", "announced"):
        if isinstance(raw.get(key), int) and not isinstance(raw.get(key), bool):
            clean[key] = raw[key]
    if raw.get("hinted") is True:
        clean["hinted"] = True
    for key in ("app_written", "named", "preload"):
        value = raw.get(key)
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            clean[key] = value
    claim = raw.get("claim")
    if (
        isinstance(claim, dict)
        and isinstance(claim.get("generation"), int)
        and isinstance(claim.get("at"), (int, float))
        and claim.get("kind") in ("full", "workers")
        and isinstance(claim.get("files"), list)
        and all(isinstance(item, str) for item in claim["files"])
    ):
        clean["claim"] = {key: claim[key] for key in ("generation", "at", "kind", "files")}
        if isinstance(claim.get("master"), str):
            clean["claim"]["master"] = claim["master"]
    return clean


class InstanceState:
    """The shared state of one instance: a locked read-modify-write of one JSON file."""

    def __init__(self, directory_fd: int, key: str) -> None:
        self._directory_fd = directory_fd
        self.name = key + ".json"

    def _open(self, create: bool) -> int:
        flags = _OPEN_FLAGS if create else _OPEN_FLAGS & ~os.O_CREAT
        fd = os.open(self.name, flags, 0o600, dir_fd=self._directory_fd)
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_nlink != 1:
            os.close(fd)
            raise OSError(errno.EPERM, "not a file of ours", self.name)
        return fd

    @contextmanager
    def _locked(self, create: bool) -> Iterator[int]:
        fd = self._open(create)
        try:
            deadline = time.monotonic() + LOCK_WAIT
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        break  # a wedged holder must not stop reloads
                    time.sleep(0.001)
            yield fd
        finally:
            os.close(fd)  # releases the lock

    @staticmethod
    def _read(fd: int) -> "Tuple[Dict[str, Any], int]":
        """The state, and how many bytes the file holds."""
        data = os.pread(fd, MAX_STATE_BYTES + 1, 0)
        if not data or len(data) > MAX_STATE_BYTES:
            return {}, len(data)
        try:
            return _clean(json.loads(data.decode("utf-8"))), len(data)
        except ValueError:
            return {}, len(data)

    def read(self) -> Dict[str, Any]:
        try:
            with self._locked(create=False) as fd:
                return self._read(fd)[0]
        except FileNotFoundError:
            return {}

    def update(self, change: Callable[[Dict[str, Any]], Any]) -> Any:
        """Apply *change* to the state under the lock; return what it returns."""
        with self._locked(create=True) as fd:
            state, size = self._read(fd)
            result = change(state)
            data = json.dumps(_clean(state)).encode("utf-8")
            # One write, padded with spaces (valid JSON) over the old content,
            # then the truncation: a worker that exits between the two (its
            # thread dies with it) leaves a state that still reads.
            os.pwrite(fd, data.ljust(size), 0)
            if size > len(data):
                os.ftruncate(fd, len(data))
            return result

    def remove(self) -> None:
        try:
            os.unlink(self.name, dir_fd=self._directory_fd)
        except FileNotFoundError:
            pass

    def remove_stale(self, alive: Callable[[int, int], bool]) -> None:
        """Delete the files of instances of this PID namespace that are gone.

        *alive(pid, start)* tells whether that master still runs; files of
        other namespaces are left to their own instances.
        """
        namespace = "%d-" % _pid_namespace()
        for entry in os.listdir(self._directory_fd):
            if not (entry.startswith(namespace) and entry.endswith(".json")) or entry == self.name:
                continue
            try:
                pid, start = (int(part) for part in entry[len(namespace) : -len(".json")].split("-"))
            except ValueError:
                continue
            if not alive(pid, start):
                try:
                    os.unlink(entry, dir_fd=self._directory_fd)
                except OSError:
                    pass


def master_alive(pid: int, start: int) -> bool:
    """True while the process *pid* that started at *start* runs."""
    return process_start(pid) == start
