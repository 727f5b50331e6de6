"""One run session: the device, process group, bf16 and CPU threads are resolved once per command."""

from __future__ import annotations

import pytest
import torch

import icrl
from icrl import runtime
from icrl.config import ConfigError, load_config
from icrl.runtime import Session, eval_threads

TINY = ["train.num_steps=4", "data.num_tasks=8", "data.steps=20", "model.seq_len=20", "eval.steps=20",
        "eval.num_tasks=3", "eval.suites=[train,num_25]", "model.d_model=32", "model.num_layers=1",
        "eval.tune_num_tasks=2", "train.device=cpu", "train.log_every=2", "train.checkpoint_every=2",
        "train.compile=false"]


@pytest.fixture
def counted(monkeypatch):
    """Counts of the resolvers' calls: Session.resolve, resolve_device and init_distributed."""
    calls = {"session": 0, "device": 0, "group": 0}
    resolve, device, group = Session.resolve.__func__, runtime.resolve_device, runtime.init_distributed

    def count(key, fn):
        def wrapped(*args, **kwargs):
            calls[key] += 1
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(Session, "resolve", classmethod(count("session", resolve)))
    monkeypatch.setattr(runtime, "resolve_device", count("device", device))
    monkeypatch.setattr(runtime, "init_distributed", count("group", group))
    return calls


def test_icrl_run_resolves_the_session_once(tmp_path, monkeypatch, counted):
    monkeypatch.chdir(tmp_path)
    # training with in-training evaluation, tuning and the evaluation: one session for all of them
    overrides = [*TINY, "train.eval_every=2", "train.eval_suites=[train]", "eval.tune=true"]
    results = icrl.run("bandit-cpu", tmp_path / "run", overrides=overrides, progress=False)
    assert "headless_ad@tuned" in results["protocols"]
    assert counted == {"session": 1, "device": 1, "group": 1}
    # a trained run evaluated again (--force): once more, once
    icrl.run("bandit-cpu", tmp_path / "run", overrides=overrides, force=True, progress=False)
    assert counted == {"session": 2, "device": 2, "group": 2}
    # icrl eval resolves its own, once
    from icrl.evaluate import evaluate_run

    evaluate_run(tmp_path / "run", device="cpu", progress=False)
    assert counted == {"session": 3, "device": 3, "group": 3}
    # and so do icrl tune and icrl train
    from icrl.pipeline import train
    from icrl.tune import tune_run

    tune_run(tmp_path / "run", device="cpu", progress=False, force=True)
    assert counted == {"session": 4, "device": 4, "group": 4}
    train(load_config("bandit-cpu", TINY), tmp_path / "trained", progress=False)
    assert counted == {"session": 5, "device": 5, "group": 5}


def test_the_evaluation_runs_with_its_threads_and_restores_them(monkeypatch):
    import icrl.evaluate as ev

    seen = []
    monkeypatch.setattr(ev, "_evaluate_model", lambda *a, **k: seen.append(torch.get_num_threads()) or ({}, {}))
    cfg = load_config("bandit-cpu", ["eval.threads=2"])
    before = torch.get_num_threads()
    ev.evaluate_model(None, cfg, device="cpu")
    assert seen == [2] and torch.get_num_threads() == before
    ev.evaluate_model(None, load_config("bandit-cpu", ["eval.threads=0"]), device="cpu")  # 0: left as it is
    assert seen[-1] == before


def test_the_threads_rule(monkeypatch):
    unset = ["eval.threads=null"]  # the field's default (the -cpu presets set 0: run alone, all cores)
    assert load_config("bandit-cpu").eval.threads == 0
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert eval_threads(load_config("bandit", unset)) == 1  # on a shared machine one thread degrades least
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert eval_threads(load_config("bandit", unset)) == 3
    assert eval_threads(load_config("bandit-cpu", ["eval.threads=2"])) == 2  # the config wins
    assert eval_threads(load_config("bandit-cpu")) == 0
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")
    assert eval_threads(load_config("bandit", unset)) == 1
    with pytest.raises(ConfigError, match=r"eval.threads=-1 is invalid: allowed in \[0, 1024\]"):
        load_config("bandit-cpu", ["eval.threads=-1"])


def test_a_session(monkeypatch):
    cfg = load_config("bandit-cpu", ["train.device=cpu", "train.amp=bf16", "eval.threads=1"])
    s = Session.resolve(cfg)
    assert (s.device, s.rank, s.world, s.bf16, s.eval_threads, s.is_main) == (torch.device("cpu"), 0, 1, True, 1, True)
    with s.autocast():
        assert torch.is_autocast_enabled("cpu")
    assert not Session.resolve(load_config("bandit-cpu", ["train.device=cpu"])).bf16  # auto: off on CPU
    assert Session.resolve(cfg, torch.device("cpu")).device == torch.device("cpu")
    with pytest.raises(ConfigError, match="device 'tpu' is invalid"):
        Session.resolve(cfg, "tpu")
    local = Session.local(cfg)
    assert (local.device, local.bf16) == (torch.device("cpu"), False)  # no device given: float32 as before
