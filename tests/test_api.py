"""The public API (``icrl.run`` and friends) and how the command line treats bugs vs bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import icrl
from icrl.cli import app

runner = CliRunner()
TINY = ["train.num_steps=3", "data.num_tasks=8", "data.steps=20", "model.seq_len=20", "eval.steps=20",
        "eval.num_tasks=3", "eval.suites=[train,num_25]", "model.d_model=32", "model.num_layers=1",
        "eval.tune_num_tasks=2", "train.compile=false"]


def test_import_icrl_does_not_import_torch():
    code = "import sys, icrl; icrl.load_config('bandit-cpu'); icrl.eval_suite('bandit', 'train', 0); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_public_names_work_together(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("run", "load_config", "make_env", "rollout", "make_teacher", "eval_suite", "load_histories", "Agent",
                 "IcrlError"):
        assert name in icrl.__all__ and getattr(icrl, name) is not None
    tasks = icrl.eval_suite("keydoor", "test_test", seed=0, num_tasks=4)
    traj = icrl.rollout(icrl.make_teacher("explore_replay"), icrl.make_env(tasks), episodes=3, seed=0)
    assert traj.episode_returns().shape == (4, 3)
    results = icrl.run("bandit-cpu", tmp_path / "run", overrides=TINY, progress=False)
    assert set(results["suites"]) == {"train", "num_25"} and results["reference"] == "thompson"
    assert json.loads((tmp_path / "run" / "eval.json").read_text()) == results
    # every wall time names its machine: seconds per phase, and the CPU they were measured on
    wall, machine = results["wall_s"], results["machine"]
    assert set(wall) == {"data", "train", "tune", "eval", "total"} and min(wall.values()) >= 0
    assert wall["data"] + wall["train"] + wall["tune"] + wall["eval"] <= wall["total"] + 0.2
    assert isinstance(machine["cpu"], str) and isinstance(machine["avx512"], bool) and machine["cores"] >= 1
    assert f"on {machine['cpu']}" in (tmp_path / "run" / "report.md").read_text()
    cfg = icrl.load_config("bandit-cpu", TINY)
    assert icrl.load_histories(cfg.dataset_path()).num_histories == 8
    agent = icrl.Agent.load(tmp_path / "run")
    agent.reset(5)
    assert 0 <= agent.act() < 5
    with pytest.raises(FileExistsError, match="finished run"):
        icrl.run("bandit-cpu", tmp_path / "run", overrides=TINY, progress=False)


def test_a_bug_keeps_its_traceback_and_bad_input_gets_one_line(monkeypatch):
    import icrl.pipeline

    def broken(*args, **kwargs):
        raise ValueError("an internal mistake")

    monkeypatch.setattr(icrl.pipeline, "run", broken)
    result = runner.invoke(app, ["run", "bandit-cpu"])
    assert result.exit_code == 1 and isinstance(result.exception, ValueError)  # not turned into "error: ..."
    monkeypatch.undo()
    bad = runner.invoke(app, ["run", "bandit-cpu", "--set", "model.loss=l1"])
    assert bad.exit_code == 2 and bad.output.strip().splitlines() == [
        "error: model.loss='l1' is invalid: allowed one of infonce, mse"]
