"""Lower-variance training targets (``data.targets=policy``) and the explore-replay demonstrator."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from icrl.data import load_histories
from icrl.data.generate import generate_dataset
from icrl.data.history import DatasetError
from icrl.envs import make_env
from icrl.rollout import rollout
from icrl.suites import train_tasks
from icrl.teachers import TEACHERS, ThompsonSampling, make_teacher

CASES = [  # (teacher, env, horizon)
    ("random", "bandit", {"steps": 30}),
    ("dirichlet", "bandit", {"steps": 30}),
    ("egreedy", "bandit", {"steps": 60}),
    ("ucb", "bandit", {"steps": 60}),
    ("thompson", "bandit", {"steps": 60}),
    ("linucb", "contextual", {"steps": 60}),
    ("qlearning", "darkroom", {"episodes": 8}),
    ("explore_replay", "darkroom", {"episodes": 8}),
    ("noisy_oracle", "darkroom", {"episodes": 8}),
]


def _teacher(name):
    return make_teacher(name, **({"num_episodes": 8} if name == "qlearning" else {}))


def test_every_teacher_reports_its_distribution():
    assert {name for name, cls in TEACHERS.items() if cls.reports_probs} == {case[0] for case in CASES}


@pytest.mark.parametrize(("teacher", "env", "horizon"), CASES)
def test_recording_the_distribution_changes_no_action(teacher, env, horizon):
    """The same histories with and without the recorded distribution; every row is a distribution
    over the task's available actions that gives the action taken a positive probability."""
    tasks = train_tasks(env, 40, 1)
    plain = rollout(_teacher(teacher), make_env(tasks), seed=5, **horizon)
    recorded = rollout(_teacher(teacher), make_env(tasks), seed=5, record_probs=True, **horizon)
    assert np.array_equal(plain.actions, recorded.actions) and np.array_equal(plain.valid, recorded.valid)
    probs = recorded.probs.astype(np.float64)[recorded.valid]
    rows = np.flatnonzero(recorded.valid.reshape(-1))
    mask = np.repeat(tasks.action_mask, recorded.valid.shape[1], axis=0)[rows]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=2e-3)
    assert (probs[~mask] == 0).all() and (probs >= 0).all()
    taken = recorded.actions[recorded.valid]
    assert (probs[np.arange(len(taken)), taken] > 0).all()


@pytest.mark.parametrize("teacher", ["egreedy", "thompson", "qlearning"])
def test_reported_distribution_matches_the_actions_drawn(teacher):
    """Frozen learner state, many draws: the actions' frequencies match the reported distribution."""
    env_name = "darkroom" if teacher == "qlearning" else "bandit"
    tasks = train_tasks(env_name, 1, 3)
    env = make_env(tasks)
    policy = _teacher(teacher)
    warm = rollout(policy, env, steps=25, seed=2)  # a learner with some history
    obs = warm.observations[:, -1] if env_name == "darkroom" else np.zeros(1, dtype=np.int64)
    draws, freq, mean_probs = 4000, np.zeros(tasks.action_sets.shape[1]), 0.0
    for _ in range(draws):
        actions, probs = policy.act_with_probs(obs)
        freq[actions[0]] += 1
        mean_probs = mean_probs + probs[0] / draws
    np.testing.assert_allclose(freq / draws, mean_probs, atol=0.03)


def test_thompson_estimate_is_close_to_the_exact_probability():
    """Two arms Beta(3, 1) vs Beta(1, 1): P(first is best) = 3/4, estimated from 64 draws per step."""
    policy = ThompsonSampling(prob_draws=63)
    env = make_env(train_tasks("bandit", 1, 0).subset(slice(0, 1)))
    policy.reset(env, np.random.default_rng(np.random.SeedSequence(0)))
    policy.counts[:] = 0
    policy.sums[:] = 0
    policy.action_mask = np.zeros_like(policy.action_mask)
    policy.action_mask[0, :2] = True
    policy.counts[0, 0] = policy.sums[0, 0] = 2
    estimates = [policy.act_with_probs(None)[1][0, 0] for _ in range(200)]
    assert abs(np.mean(estimates) - 0.75) < 0.01
    assert 0.02 < np.std(estimates) < 0.5 / 8


def test_explore_replay_replays_the_successful_path():
    """Uniform until the first success; afterwards every episode succeeds, no longer than the
    successful one, and the distribution is one-hot on the action taken."""
    tasks = train_tasks("darkroom", 30, 0)
    traj = rollout(make_teacher("explore_replay"), make_env(tasks), episodes=40, seed=1, record_probs=True)
    returns = traj.episode_returns()
    ends = traj.dones & traj.valid
    for b in range(len(tasks)):
        success = np.flatnonzero(returns[b] == 1)
        if len(success) == 0:
            continue
        first = success[0]
        assert (returns[b, first:] == 1).all()
        end_steps = np.flatnonzero(ends[b])
        lengths = np.diff(np.concatenate([[-1], end_steps]))
        assert (lengths[first + 1:] <= lengths[first]).all()
        after = end_steps[first] + 1
        probs = traj.probs[b, after:end_steps[-1] + 1].astype(np.float64)
        assert (probs.max(axis=1) == 1).all()
        before = traj.probs[b, : end_steps[first] + 1].astype(np.float64)
        np.testing.assert_allclose(before[:, :50], 1 / 50, rtol=1e-3)
    assert np.nanmean(returns[:, -1]) > 0.8


def test_policy_targets_round_trip_and_refusals(tmp_path, small_config):
    cfg = small_config("bandit", "data.targets=policy")
    path = generate_dataset(cfg, tmp_path / "policy.h5", progress=False)
    ds = load_histories(path)
    assert ds.targets is not None and ds.targets.shape == (len(ds.actions), ds.action_sets.shape[1])
    plain = load_histories(generate_dataset(small_config("bandit"), tmp_path / "plain.h5", progress=False))
    assert plain.targets is None and np.array_equal(plain.actions, ds.actions)  # the same histories

    with h5py.File(tmp_path / "plain.h5", "r+") as f:  # a version 1 file still reads
        f.attrs["schema_version"] = 1
    assert load_histories(tmp_path / "plain.h5").targets is None

    with h5py.File(path, "r+") as f:  # rows that are not distributions are refused
        f["targets"][0, 0] = 3.0
    with pytest.raises(DatasetError, match="policy.h5: targets rows are not distributions"):
        load_histories(path)


def test_a_version_2_file_with_its_policy_array_reads_as_targets(tmp_path, small_config):
    """Schema 2 named the soft targets ``policy``: such a file still reads, and trains."""
    from icrl.data import SCHEMA_VERSION
    from icrl.data.sampler import TensorWindowSampler

    cfg = small_config("bandit", "data.targets=policy")
    path = generate_dataset(cfg, tmp_path / "v3.h5", progress=False)
    new = load_histories(path)
    assert SCHEMA_VERSION == 3 and new.attrs["schema_version"] == 3
    with h5py.File(path, "r+") as f:  # written the old way
        f.move("targets", "policy")
        f.attrs["schema_version"] = 2
    old = load_histories(path)
    assert old.attrs["schema_version"] == 2 and np.array_equal(old.targets, new.targets)
    batch = TensorWindowSampler(old, 10, targets=True).windows(torch.tensor([0, 3]))
    assert batch["targets"].shape == (2, 10, old.action_sets.shape[1]) and batch["targets"].dtype == torch.float32
    with h5py.File(path, "r+") as f:  # a version 3 file is read by its own name only
        f.attrs["schema_version"] = 3
    assert load_histories(path).targets is None


def test_policy_targets_need_a_dataset_that_holds_them(tmp_path, small_config, small_dataset_path):
    from icrl.train import Trainer

    cfg = small_config("bandit", "data.targets=policy", "model.seq_len=20", "model.d_model=32", "model.num_heads=4")
    with pytest.raises(DatasetError, match="data.targets=policy needs the teacher's distributions"):
        Trainer(cfg, tmp_path / "run", small_dataset_path("bandit"), progress=False)


def test_soft_target_loss_equals_the_action_loss_for_one_hot_targets(small_config):
    """Cross-entropy to a one-hot distribution is the sampled-action loss, for both model kinds;
    a uniform target gives the mean negative log-likelihood over the available actions."""
    from icrl.models.files import build_model
    from icrl.models.model import sample_action_embeddings

    for kind in ("headless_ad", "ad"):
        cfg = small_config("bandit", f"model.kind={kind}", "model.d_model=32", "model.num_heads=4",
                           "model.seq_len=12", *(["model.label_smoothing=0"] if kind == "ad" else []))
        torch.manual_seed(0)
        model = build_model(cfg).eval()  # no dropout
        B, T, A = 3, 12, 20
        num_actions = torch.tensor([4, 9, 20])
        actions = torch.stack([torch.randint(0, int(n), (T,)) for n in num_actions])
        batch = {"observations": torch.zeros(B, T, dtype=torch.long), "actions": actions,
                 "rewards": torch.rand(B, T), "num_actions": num_actions}
        emb = sample_action_embeddings(B, A, cfg.model.action_dim, "orthonormal") if kind == "headless_ad" else None
        plain, _ = model.loss(batch, emb, A)
        one_hot = torch.nn.functional.one_hot(actions, A).float()
        soft, _ = model.loss({**batch, "targets": one_hot}, emb, A)
        torch.testing.assert_close(soft, plain)
        uniform = (torch.arange(A)[None, :] < num_actions[:, None]).float()
        uniform = (uniform / uniform.sum(-1, keepdim=True))[:, None].expand(B, T, A)
        logits = model.logits(model.forward_window(batch["observations"], actions, batch["rewards"], num_actions, emb),
                              num_actions, emb, A)
        expected = torch.stack([-torch.log_softmax(logits[b, :, : int(n)], -1).mean(-1) for b, n in enumerate(num_actions)]).mean()
        torch.testing.assert_close(model.loss({**batch, "targets": uniform}, emb, A)[0], expected)
