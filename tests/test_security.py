"""Nothing another user, or a neighbour instance, can do stops reloading or redirects a write.

The server runs as the test's user (root in CI); an intruder is a second Unix
user this module creates (and removes). Every instance here shares its temp
directory with the intruder, as /tmp is shared on a real machine.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from conftest import APP, READY, STARTED, Server, write
from test_reload import ini

pytestmark = pytest.mark.uwsgi

INTRUDER = "uwsgi-reload-intruder"


@pytest.fixture(scope="module")
def intruder() -> Iterator[pwd.struct_passwd]:
    if os.geteuid() != 0:
        pytest.skip("creating a second user needs root")
    if shutil.which("useradd") is None:
        pytest.skip("creating a second user needs useradd")
    created = subprocess.run(
        ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", INTRUDER], capture_output=True
    ).returncode == 0
    try:
        yield pwd.getpwnam(INTRUDER)
    finally:
        if created:
            subprocess.run(["userdel", INTRUDER], check=True)


def as_intruder(user: pwd.struct_passwd, *command: str) -> None:
    subprocess.run(command, user=user.pw_uid, group=user.pw_gid, check=True, timeout=30)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temp directory like /tmp, which the intruder can reach (tmp_path is private):
    anyone writes in it, the sticky bit protects each file."""
    shared = Path(tempfile.mkdtemp(prefix="uwsgi-reload-shared-"))
    shared.chmod(0o1777)
    try:
        yield shared
    finally:
        shutil.rmtree(shared)


def env_with_tmp(shared: Path) -> dict:
    return {"TMPDIR": str(shared), "XDG_RUNTIME_DIR": None}


def reloads_twice(app: Path, server: Server) -> None:
    server.wait_for_log(STARTED)
    for number, body in enumerate(("two!", "three"), start=1):
        write(app / "helper.py", 'MESSAGE = "%s"\n' % body)
        server.wait_for_body(body)
        server.wait_for_log(READY, count=number)


def private_name() -> str:
    return "uwsgi_reload-%d" % os.geteuid()


def test_a_directory_planted_by_another_user_is_refused(app, make_server, shared_tmp, intruder):
    planted = shared_tmp / private_name()
    as_intruder(intruder, "mkdir", "-m", "777", str(planted))
    # The intruder waits for state files with a FIFO and a file of theirs at
    # every name a state file could take.
    as_intruder(intruder, "mkfifo", str(planted / "trap.json"))

    server = make_server(ini(), env=env_with_tmp(shared_tmp))

    server.wait_for_body("one")
    server.wait_for_log(r"^uwsgi_reload: the workers share their state in .* \(refused: %s: owned by uid %d\)$"
                        % (planted, intruder.pw_uid))
    reloads_twice(app, server)
    assert sorted(os.listdir(planted)) == ["trap.json"]


def test_a_planted_link_never_redirects_a_write(app, make_server, shared_tmp, intruder, tmp_path):
    victim = tmp_path / "root-only.conf"
    victim.write_text("secret = 1\n")
    victim.chmod(0o600)
    theirs = shared_tmp / "theirs"
    as_intruder(intruder, "mkdir", "-m", "777", str(theirs))
    namespace = os.stat("/proc/self/ns/pid").st_ino
    for pid in range(300, 330):  # the PIDs the next masters may get, whatever the start time
        as_intruder(intruder, "ln", "-s", str(victim), str(theirs / ("%d-%d-0.json" % (namespace, pid))))
    as_intruder(intruder, "ln", "-s", str(theirs), str(shared_tmp / private_name()))

    server = make_server(ini(), env=env_with_tmp(shared_tmp))

    server.wait_for_body("one")
    server.wait_for_log(r"refused: %s: a symbolic link" % (shared_tmp / private_name()))
    reloads_twice(app, server)
    assert victim.read_text() == "secret = 1\n"
    assert len(os.listdir(theirs)) == 30


def test_the_state_is_private_and_gone_when_the_instance_stops(app, make_server, tmp_path):
    base = tmp_path / "tmp"
    base.mkdir()
    server = make_server(ini(), env=env_with_tmp(base))
    reloads_twice(app, server)
    directory = base / private_name()
    (state,) = directory.iterdir()

    assert oct(directory.stat().st_mode & 0o777) == "0o700"
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    server.stop()
    assert list(directory.iterdir()) == []


def test_two_instances_with_the_same_master_pid_in_two_pid_namespaces(tmp_path, make_server):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a PID namespace needs root and unshare")
    base = tmp_path / "tmp"
    base.mkdir()
    servers = {}
    for name in ("left", "right"):
        folder = tmp_path / name
        folder.mkdir()
        write(folder / "app.py", (Path(__file__).parent / "conftest.py").read_text().split("APP = '''")[1].split("'''")[0])
        write(folder / "helper.py", 'MESSAGE = "one"\n')
        # In its own PID namespace, each master is PID 1.
        servers[name] = (folder, make_server(
            ini(), folder=folder, env=env_with_tmp(base), wrapper=["unshare", "--pid", "--fork", "--mount-proc"],
        ))
    for folder, server in servers.values():
        server.wait_for_body("one")
        server.wait_for_log(r"^\*\*\* uWSGI is running in multiple interpreter mode")
        assert "spawned uWSGI master process (pid: 1)" in server.log()
    for folder, server in servers.values():
        reloads_twice(folder, server)
    assert len(os.listdir(base / private_name())) == 2


def test_without_any_usable_temp_directory_one_line_and_reloads_go_on(app, make_server):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("read-only temp directories need a mount namespace (root and unshare)")
    read_only = "for d in /tmp /var/tmp /dev/shm; do mount --bind $d $d && mount -o remount,bind,ro $d; done; exec \"$@\""
    server = make_server(
        ini(),
        env={"TMPDIR": None, "TEMP": None, "TMP": None, "XDG_RUNTIME_DIR": None},
        wrapper=["unshare", "--mount", "--propagation", "private", "sh", "-c", read_only, "sh"],
    )

    server.wait_for_body("one")
    server.wait_for_log(r"^uwsgi_reload: no private directory for the state workers share \(.*/tmp/%s: "
                        r"Read-only file system.*\): reloads still work" % private_name())
    write(app / "helper.py", 'MESSAGE = "two!"\n')
    server.wait_for_body("two!")
