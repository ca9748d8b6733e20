"""The lines a developer gets about their uWSGI setup."""

from __future__ import annotations

import os

import pytest

from uwsgi_reload._diagnostics import misconfigurations, server_log_files, shared_folder

MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
vagrant /vagrant vboxsf rw,nodev,relatime 0 0
host:/export /srv/code nfs4 rw 0 0
/dev/vdb /srv/code/local ext4 rw 0 0
"""


@pytest.mark.parametrize(
    "path, kind",
    [
        ("/vagrant", "vboxsf"),
        ("/vagrant/shop/views.py", "vboxsf"),
        ("/vagrantfile/x.py", ""),
        ("/srv/code/app.py", "nfs4"),
        ("/srv/code/local/app.py", ""),  # the innermost mount decides
        ("/home/me/app.py", ""),
    ],
)
def test_shared_folder_is_the_innermost_mount_type(path, kind):
    assert shared_folder(path, MOUNTS) == kind


def test_a_plain_development_setup_gets_no_line():
    assert misconfigurations({"http-socket": b"127.0.0.1:8000", "master": True, "processes": b"4"}) == []


@pytest.mark.parametrize(
    "opt, start",
    [
        ({"http": b":8000"}, "the http router (http =) is a separate process that drops"),
        ({"need-app": True}, "need-app is on: an app that fails to load stops the instance"),
        ({"strict": b"true"}, "strict = true: uWSGI refuses plain uwsgi-reload-* keys"),
        ({"lazy": True}, "lazy = true also reloads workers one by one"),
        ({"socket": b"0.0.0.0:3031", "harakiri": b"30"}, "active on a server listening on 0.0.0.0:3031 with harakiri"),
    ],
)
def test_each_misconfiguration_gets_one_line(opt, start):
    (line,) = misconfigurations(opt)
    assert line.startswith(start)


def test_the_production_line_also_names_the_browser_key_when_it_is_on():
    opt = {"socket": b"0.0.0.0:3031", "harakiri": b"30"}
    (plain,) = misconfigurations(opt)
    assert plain.endswith("set uwsgi-reload = false there")
    (line,) = misconfigurations(dict(opt, **{"uwsgi-reload-browser": b"true"}))
    assert line == plain + (
        ", which also turns off uwsgi-reload-browser (on here: it shows the app's tracebacks to "
        "loopback and the addresses in uwsgi-reload-browser-allow)"
    )


def test_loopback_or_unix_sockets_with_harakiri_are_not_production():
    for address in (b"127.0.0.1:8000", b"localhost:8000", b"/run/app.sock", b"[::1]:8000"):
        assert misconfigurations({"socket": address, "harakiri": b"30"}) == []


def test_server_log_files_are_the_ones_uwsgi_writes(tmp_path):
    opt = {
        "logto": b"/srv/app/uwsgi.log",
        "logger": [b"syslog:app", b"file:/srv/app/other.log"],
        "req-logger": b"file:/srv/app/requests.log",
    }
    found = server_log_files(opt)
    assert found[:3] == ["/srv/app/uwsgi.log", "/srv/app/other.log", "/srv/app/requests.log"]
    assert not any(path.startswith("syslog") for path in found)


def test_stderr_redirected_to_a_file_counts_as_a_server_log(tmp_path):
    log = tmp_path / "server.log"
    saved = os.dup(2)
    with open(log, "w") as target:
        os.dup2(target.fileno(), 2)
        try:
            found = server_log_files({})
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    assert str(log) in found
