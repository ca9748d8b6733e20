"""Which worker claims a change: the claim rules of the Reloader, as pure logic.

The Reloader imports ``uwsgi``; these tests give it a stub module and a
dict for the instance state. The real-uWSGI proofs are in test_reload.py
and test_reload_path.py (a change is logged and reloaded once, also across
max-requests respawns).
"""

from __future__ import annotations

import importlib
import sys
import time
import types

import pytest

import uwsgi_reload
from uwsgi_reload._scanner import Watcher


@pytest.fixture
def reloader_for(monkeypatch):
    monkeypatch.setitem(sys.modules, "uwsgi", types.ModuleType("uwsgi"))
    for name in ("_reloader", "_exit"):
        monkeypatch.delitem(sys.modules, "uwsgi_reload." + name, raising=False)
        # The import binds the submodule on the package, over its own _reloader.
        monkeypatch.setattr(uwsgi_reload, name, getattr(uwsgi_reload, name, None), raising=False)
    module = importlib.import_module("uwsgi_reload._reloader")

    def make(generation: int, master_life: str):
        reloader = module.Reloader(Watcher(modules={}), log=lambda line: None, describe=", ".join,
                                   start_lines=lambda watcher: [])
        reloader.generation = generation
        reloader.master_life = master_life
        return reloader

    return make


def test_the_first_worker_claims_and_another_of_its_generation_does_not(reloader_for):
    state = {"generation": 4}
    assert reloader_for(4, "life-1")._claim("full", ["models.py"])(state)
    assert state["generation"] == 5
    assert not reloader_for(4, "life-1")._claim("full", ["models.py"])(state)


def test_a_worker_forked_by_a_master_about_to_re_exec_does_not_claim_its_old_files(reloader_for):
    state = {"generation": 4}
    reloader_for(4, "life-1")._claim("full", ["models.py"])(state)
    # Respawned (max-requests) by the same master before it re-execs: it
    # starts in the new generation with the master's old models.py.
    assert not reloader_for(5, "life-1")._claim("full", ["models.py"])(state)
    assert state["generation"] == 5


def test_after_the_re_exec_the_new_generation_claims_again(reloader_for):
    state = {"generation": 4}
    reloader_for(4, "life-1")._claim("full", ["models.py"])(state)
    assert reloader_for(5, "life-2")._claim("full", ["models.py"])(state)
    assert state["generation"] == 6


def test_workers_forked_after_a_restart_of_the_workers_alone_claim_the_next_change(reloader_for):
    state = {"generation": 4}
    reloader_for(4, "life-1")._claim("workers", ["views.py"])(state)
    # No re-exec: the same master forks the new generation, which may claim.
    assert reloader_for(5, "life-1")._claim("full", ["models.py"])(state)


def test_a_worker_forked_by_a_master_about_to_re_exec_does_not_say_the_reload_is_done(reloader_for):
    state = {"generation": 4}
    reloader_for(4, "life-1")._claim("full", ["models.py"])(state)
    assert reloader_for(5, "life-1")._announcement(state) == []
    assert state["claim"]["files"] == ["models.py"]  # kept for the new master's first worker
    assert reloader_for(5, "life-2")._announcement(state)[0].startswith("reloaded for models.py in ")


def test_a_claim_made_in_the_second_a_lazy_apps_master_started_names_no_life(reloader_for):
    # Under lazy-apps a life is uWSGI's start in whole seconds, which the
    # master after a quick re-exec may share: the workers of that next life
    # must still announce and claim.
    state = {"generation": 4}
    claimant = reloader_for(4, "1700000000")
    claimant.master_life_unique_from = time.time() + 60
    claimant._claim("full", ["helper.py"])(state)
    assert state["claim"]["master"] == ""
    assert reloader_for(5, "1700000000")._announcement(state)[0].startswith("reloaded for helper.py in ")


def test_a_claim_made_after_that_second_names_the_life(reloader_for):
    state = {"generation": 4}
    claimant = reloader_for(4, "1700000000")
    claimant.master_life_unique_from = time.time() - 1
    claimant._claim("full", ["helper.py"])(state)
    assert reloader_for(5, "1700000000")._announcement(state) == []


class StateFile:
    def __init__(self, state):
        self.state = state

    def read(self):
        return self.state


def test_a_worker_forked_while_its_master_re_execs_is_told_to_leave(reloader_for):
    state = {"generation": 4}
    reloader_for(4, "life-1")._claim("full", ["models.py"])(state)
    assert reloader_for(5, "life-1").forked_during_reload(StateFile(state)) == ["models.py"]
    assert reloader_for(5, "life-2").forked_during_reload(StateFile(state)) == []
    assert reloader_for(5, "life-1").forked_during_reload(None) == []


def test_workers_forked_for_a_restart_of_the_workers_alone_stay(reloader_for):
    state = {"generation": 4}
    reloader_for(4, "life-1")._claim("workers", ["views.py"])(state)
    assert reloader_for(5, "life-1").forked_during_reload(StateFile(state)) == []


def test_worker_1_of_a_generation_does_not_take_a_newer_claim_for_its_own(reloader_for):
    # Under lazy-apps worker 1 speaks once its app is in; another worker of
    # its generation may have claimed the next edit by then.
    state = {"generation": 4}
    reloader_for(4, "life-1")._claim("workers", ["views.py"])(state)
    reloader_for(5, "life-1")._claim("workers", ["urls.py"])(state)
    assert reloader_for(5, "life-1")._announcement(state) == []
    assert state["claim"]["files"] == ["urls.py"]
    assert reloader_for(6, "life-1")._announcement(state)[0].startswith("reloaded for urls.py in ")
