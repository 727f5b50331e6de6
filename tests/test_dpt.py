"""DPT and Headless-DPT: optimal-action targets in the dataset, the kinds' rules, and training."""

from __future__ import annotations

import numpy as np
import pytest

from icrl.config import ConfigError, load_config
from icrl.data import load_histories
from icrl.data.generate import generate_dataset
from icrl.envs import make_env
from icrl.rollout import rollout
from icrl.suites import eval_suite, train_tasks
from icrl.teachers import make_teacher

SMALL = ["data.num_tasks=12", "data.batch_tasks=5"]


@pytest.mark.parametrize("preset, horizon", [("bandit-dpt-cpu", "data.steps=30"), ("darkroom-dpt-cpu", "data.episodes=3"),
                                             ("contextual-dpt-cpu", "data.steps=30")])
def test_datasets_hold_the_optimal_actions_as_targets(tmp_path, preset, horizon):
    cfg = load_config(preset, [*SMALL, horizon])
    data = load_histories(generate_dataset(cfg, tmp_path / "d.h5", progress=False))
    assert data.targets is not None
    # replay the same rollout and ask the environment for its labels at every step
    tasks = train_tasks(cfg.env, 12, cfg.data.seed).subset(slice(0, 5))  # the first chunk, as generated
    traj = rollout(make_teacher(cfg.data.teacher), make_env(tasks), seed=[cfg.data.seed, 0], record_optimal=True,
                   **({"steps": 30} if "steps" in horizon else {"episodes": 3}))
    for b in range(5):
        rows = slice(data.offsets[b], data.offsets[b + 1])
        n = traj.valid[b].sum()
        np.testing.assert_array_equal(data.actions[rows], traj.actions[b, :n])
        target = data.targets[rows][:, : tasks.action_sets.shape[1]]
        np.testing.assert_allclose(target, traj.probs[b, :n], atol=1e-3)
        if cfg.env == "bandit":  # the best arm of the task at every step
            best = np.flatnonzero(tasks.params["means"][b] == tasks.params["means"][b].max())
            assert set(np.flatnonzero(target[0])) == set(best) and (target == target[0]).all()


def test_recorded_labels_are_uniform_over_ties():
    tasks = eval_suite("darkroom", "all_train", seed=0, num_tasks=4)
    traj = rollout(make_teacher("random"), make_env(tasks), episodes=2, seed=0, record_optimal=True)
    p = traj.probs[traj.valid].astype(np.float64)
    assert np.allclose(p.sum(axis=1), 1, atol=1e-2)
    nonzero = np.where(p > 0, p, np.nan)
    assert np.allclose(np.nanmax(nonzero, axis=1), np.nanmin(nonzero, axis=1))  # uniform over the optima


def test_dpt_kinds_learn_only_from_optimal_targets():
    with pytest.raises(ConfigError, match="data.targets='action' is invalid: allowed optimal for model.kind=headless_dpt"):
        load_config("bandit-dpt-cpu", ["data.targets=action"])
    with pytest.raises(ConfigError, match="model.loss='mse' is invalid"):
        load_config("darkroom-dpt-cpu", ["model.loss=mse"])
    cfg = load_config("darkroom-dpt-cpu", ["model.kind=dpt"])  # the fixed-head DPT of the comparison
    assert (cfg.model.kind, cfg.model.head_size) == ("dpt", 125)


@pytest.mark.parametrize("kind", ["headless_dpt", "dpt"])
def test_dpt_trains_and_plays(tmp_path, kind):
    from icrl.pipeline import run

    results = run("bandit-dpt-cpu", tmp_path / "run", overrides=[
        f"model.kind={kind}", *SMALL, "data.steps=30", "model.seq_len=30", "train.num_steps=20", "model.d_model=32",
        "eval.steps=30", "eval.num_tasks=4", "eval.suites=[train,num_10]", f"data.path={tmp_path / 'd.h5'}"],
        progress=False)
    assert results["protocol"]["policy"] == kind and set(results["suites"]) == {"train", "num_10"}
    metrics = [line for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines() if line]
    assert metrics and '"accuracy"' in metrics[-1]


def test_darkroom_headless_dpt_with_action_effects_runs_end_to_end(tmp_path):
    """The darkroom preset's recipe (model.action_effects reads the episode ends of the dataset
    in training and of the agent's own play in evaluation), at toy size."""
    from icrl.pipeline import run

    results = run("darkroom-dpt-cpu", tmp_path / "run", overrides=[
        *SMALL, "data.episodes=3", "model.seq_len=20", "train.num_steps=5", "model.d_model=32",
        "eval.episodes=3", "eval.num_tasks=3", "eval.suites=[all_test]", f"data.path={tmp_path / 'd.h5'}"],
        progress=False)
    assert results["protocol"]["policy"] == "headless_dpt"
    assert "model.action_effects=true" in results["recipe"]["departures"]
    assert 0.0 <= results["suites"]["all_test"]["headless_dpt"]["final"] <= 1.0

