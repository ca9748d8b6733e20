"""vagrant/check.sh passes: what can be checked of the Vagrant demo without a VM."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from processes import stop_session

CHECK = Path(__file__).resolve().parent.parent / "vagrant" / "check.sh"


@pytest.mark.uwsgi
def test_vagrant_check_script() -> None:
    missing = [tool for tool in ("vagrant", "shellcheck", "curl") if shutil.which(tool) is None]
    if missing and not os.environ.get("CI"):
        # CI must install them (apt: vagrant shellcheck curl): there it fails instead.
        pytest.skip("needs %s (apt-get install vagrant shellcheck curl)" % " ".join(missing))
    # check.sh compiles uWSGI with pip and waits for reloads: minutes at worst.
    # Its own session, so a hung run can be stopped process by process.
    check = subprocess.Popen(
        ["bash", str(CHECK)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output = check.communicate(timeout=270)[0].decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        stop_session(check.pid)
        output = check.communicate()[0].decode("utf-8", "replace")
        pytest.fail("vagrant/check.sh did not finish within 270 s:\n" + output)
    assert check.returncode == 0, output
    assert "check.sh: all passed" in output, output
