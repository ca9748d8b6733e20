"""Release-ready: the sdist and wheel build, pass twine, and carry what they should."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )
    return out


def test_twine_check_passes_and_the_readme_renders(dist):
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_wheel_has_the_package_and_py_typed(dist):
    (wheel,) = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "uwsgi_reload/py.typed" in names
    assert "uwsgi_reload/__main__.py" in names
    assert "uwsgi_reload/live.js" in names  # the page's script, read at run time
    assert not any(name.startswith(("tests/", "examples/")) for name in names)


def test_sdist_carries_tests_examples_vagrant_demo_and_docs(dist):
    (sdist,) = dist.glob("*.tar.gz")
    names = {name.split("/", 1)[1] for name in tarfile.open(sdist).getnames() if "/" in name}
    for expected in (
        "README.rst", "CHANGES.rst", "LICENSE", "tests/conftest.py", "examples/django/uwsgi.ini",
        "vagrant/Vagrantfile", "vagrant/provision.sh", "demo/uwsgi.ini", "benchmarks/README.rst", ".ci/run",
        "docs/browser.png", "benchmarks/browser.py", "uwsgi_reload/live.js",
    ):
        assert expected in names


def test_check_manifest_is_clean():
    if not (ROOT / ".git").exists():
        pytest.skip("check-manifest compares with git, and this is not a git checkout")
    result = subprocess.run(
        [sys.executable, "-m", "check_manifest", str(ROOT)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
