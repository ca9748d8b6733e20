"""The state the workers of an instance share: private, keyed per instance, never trusted.

Pure tests of uwsgi_reload._instance in tmp_path; test_security.py plays the
same cases against real uWSGI with a second user.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from uwsgi_reload._instance import (
    MAX_STATE_BYTES,
    InstanceState,
    NoPrivatePlace,
    instance_key,
    open_private_directory,
    process_start,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def private(tmp_path: Path):
    fd, path, _ = open_private_directory([str(tmp_path)])
    yield fd, Path(path)
    os.close(fd)


def test_the_directory_is_created_private_and_reused(tmp_path):
    fd, path, refused = open_private_directory([str(tmp_path)])
    os.close(fd)

    assert path == str(tmp_path / ("uwsgi_reload-%d" % os.geteuid()))
    assert mode(Path(path)) == 0o700 and refused == []
    fd, again, _ = open_private_directory([str(tmp_path)])
    os.close(fd)
    assert again == path


def test_a_directory_others_can_enter_is_refused_and_the_next_place_used(tmp_path):
    shared, other = tmp_path / "shared", tmp_path / "other"
    shared.mkdir()
    other.mkdir()
    planted = shared / ("uwsgi_reload-%d" % os.geteuid())
    planted.mkdir()
    planted.chmod(0o777)

    fd, path, refused = open_private_directory([str(shared), str(other)])
    os.close(fd)

    assert path.startswith(str(other))
    assert refused == ["%s: mode 777 lets other users in" % planted]


def test_a_symbolic_link_is_refused_even_to_a_private_directory(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_path / ("uwsgi_reload-%d" % os.geteuid())).symlink_to(target)

    with pytest.raises(NoPrivatePlace, match="a symbolic link"):
        open_private_directory([str(tmp_path)])


def test_a_directory_of_another_user_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root can make a directory another user owns")
    planted = tmp_path / "uwsgi_reload-0"
    planted.mkdir(mode=0o700)
    os.chown(planted, 65534, 65534)

    with pytest.raises(NoPrivatePlace, match="owned by uid 65534"):
        open_private_directory([str(tmp_path)], uid=0)


def test_no_usable_place_says_why_for_each(tmp_path):
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o500)
    try:
        if os.access(str(read_only), os.W_OK):
            pytest.skip("root writes anywhere: the read-only case runs in test_security.py")
        with pytest.raises(NoPrivatePlace, match="ro: Permission denied"):
            open_private_directory([str(read_only), str(tmp_path / "missing")])
    finally:
        read_only.chmod(0o700)


def test_nothing_at_all_raises_no_private_place():
    with pytest.raises(NoPrivatePlace, match="no temporary directory"):
        open_private_directory([])


def test_state_round_trips_in_a_file_only_we_can_read(private):
    fd, path = private
    state = InstanceState(fd, "key")

    state.update(lambda data: data.update(generation=3, app_written=["/app/app.log"]))

    assert state.read() == {"generation": 3, "app_written": ["/app/app.log"]}
    assert mode(path / "key.json") == 0o600


def test_a_claim_keeps_the_master_life_it_names_and_drops_a_bad_one(private):
    fd, path = private
    state = InstanceState(fd, "key")
    claim = {"generation": 2, "at": 1.5, "kind": "full", "files": ["/app/models.py"], "master": "1700000000.12"}

    state.update(lambda data: data.update(claim=dict(claim)))
    assert state.read()["claim"] == claim

    state.update(lambda data: data.update(claim=dict(claim, master=12)))
    assert "master" not in state.read()["claim"]


@pytest.mark.parametrize(
    "content",
    [
        b'{"app_written": 0}',
        b'{"app_written": [1, 2]}',
        b'{"generation": "3", "announced": true}',
        b'{"claim": {"generation": 0, "at": 1, "kind": "everything", "files": []}}',
        b'{"claim": {"generation": 0, "at": 1, "kind": "full", "files": "x"}}',
        b"[1, 2, 3]",
        b"\xff\xfe not json",
        b'{"generation": 1' + b" " * MAX_STATE_BYTES + b"}",
    ],
    ids=["list-as-int", "list-of-ints", "wrong-types", "bad-kind", "files-as-str", "not-a-dict", "not-utf8", "huge"],
)
def test_bad_content_reads_as_nothing(private, content):
    fd, path = private
    (path / "key.json").write_bytes(content)
    (path / "key.json").chmod(0o600)

    assert InstanceState(fd, "key").read() == {}


def test_a_fifo_at_the_state_path_fails_at_once_instead_of_blocking(private):
    fd, path = private
    os.mkfifo(path / "key.json", 0o600)
    errors = []

    def read() -> None:
        try:
            InstanceState(fd, "key").read()
        except OSError as error:
            errors.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)

    assert not reader.is_alive(), "read() blocked on the FIFO"
    assert errors and "not a file of ours" in str(errors[0])


@pytest.mark.parametrize("kind", ["symlink", "hardlink"])
def test_a_link_at_the_state_path_is_not_followed(private, tmp_path, kind):
    fd, path = private
    victim = tmp_path / "victim"
    victim.write_text("secret")
    victim.chmod(0o600)
    if kind == "symlink":
        (path / "key.json").symlink_to(victim)
    else:
        os.link(victim, path / "key.json")

    with pytest.raises(OSError):
        InstanceState(fd, "key").update(lambda data: data.update(generation=1))

    assert victim.read_text() == "secret"


def test_the_key_has_the_pid_namespace_the_pid_and_its_start_time():
    namespace = os.stat("/proc/self/ns/pid").st_ino

    assert instance_key(os.getpid()) == "%d-%d-%d" % (namespace, os.getpid(), process_start(os.getpid()))
    assert instance_key(os.getpid()) != instance_key(os.getppid())


def test_files_of_gone_instances_of_this_namespace_are_removed(private):
    fd, path = private
    namespace = os.stat("/proc/self/ns/pid").st_ino
    alive = "%d-%d-%d.json" % (namespace, os.getpid(), process_start(os.getpid()))
    gone = "%d-%d-%d.json" % (namespace, os.getpid(), process_start(os.getpid()) + 1)
    foreign = "%d-%d-1.json" % (namespace + 1, os.getpid())
    for name in (alive, gone, foreign, "notes.txt"):
        (path / name).write_text("{}")
    state = InstanceState(fd, "mine")

    state.remove_stale(lambda pid, start: process_start(pid) == start)

    assert sorted(os.listdir(path)) == sorted([alive, foreign, "notes.txt"])


def test_remove_deletes_the_state_and_tolerates_its_absence(private):
    fd, path = private
    state = InstanceState(fd, "key")
    state.update(lambda data: None)

    state.remove()
    state.remove()

    assert state.read() == {}
    assert not (path / "key.json").exists()


def test_a_process_killed_between_the_write_and_the_truncation_leaves_a_state_that_reads(private, monkeypatch):
    fd, path = private
    state = InstanceState(fd, "key")
    state.update(lambda data: data.update(app_written=["/app/%d.log" % n for n in range(50)]))

    def killed(fd, length):
        raise SystemExit("killed before the truncation")

    monkeypatch.setattr(os, "ftruncate", killed)
    with pytest.raises(SystemExit):
        state.update(lambda data: data.update(generation=7, app_written=[]))
    monkeypatch.undo()

    assert state.read() == {"generation": 7, "app_written": []}
