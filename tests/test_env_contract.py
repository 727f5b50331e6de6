"""The contract every registered environment keeps, run over the spec registry: a new environment
gets these tests by registering its spec, without editing a list here."""

from __future__ import annotations

import numpy as np
import pytest

from icrl.envs import EnvError, TaskSet, make_env
from icrl.envs.base import TaskStreams
from icrl.rollout import rollout
from icrl.suites import ENV_SPECS, Horizon, eval_suite, eval_suites, parse_baseline, train_tasks
from icrl.teachers import RandomPolicy, make_teacher

ENVS = sorted(ENV_SPECS)


def tasks_of(env: str, num_tasks: int = 6) -> TaskSet:
    """A few tasks of every eval suite, merged (ragged action sets where the env has them)."""
    return TaskSet.concatenate(list(eval_suites(env, seed=3, num_tasks=num_tasks).values()))


def random_actions(env, rng):
    return (rng.random(env.num_envs) * env.num_actions).astype(np.int64)


@pytest.mark.parametrize("name", ENVS)
def test_spec_is_consistent(name):
    spec = ENV_SPECS[name]
    assert spec.env_class.name == name and spec.teacher and spec.paper_reference in spec.baselines
    assert spec.default_horizon.unit == ("episodes" if spec.episodic else "steps")
    for suite in spec.eval_suites:
        ts = eval_suite(name, suite, seed=0, num_tasks=5)
        assert ts.env == name and len(ts) == 5
        ids = ts.action_sets[ts.action_mask]
        assert ids.min() >= 0 and ids.max() < spec.universe
    train = train_tasks(name, 40, seed=0)
    assert spec.train_min_actions <= train.num_actions.min() <= train.num_actions.max() <= spec.train_max_actions


@pytest.mark.parametrize("name", ENVS)
def test_reset_and_step_shapes_and_types(name):
    env = make_env(tasks_of(name))
    obs = env.reset(seed=0)
    assert obs.shape == (env.num_envs, *env.obs_shape) and obs.dtype == env.obs_dtype
    rng = np.random.default_rng(0)
    episode_steps = np.zeros(env.num_envs, dtype=int)
    for _ in range(60):
        obs, reward, done, info = env.step(random_actions(env, rng))
        assert obs.shape == (env.num_envs, *env.obs_shape) and reward.dtype == np.float32 and done.dtype == bool
        assert np.isfinite(reward).all() and isinstance(info, dict)
        if env.obs_kind == "discrete":
            assert ((obs >= 0) & (obs < env.obs_dim)).all()
        episode_steps = np.where(done, 0, episode_steps + 1)
        limit = env.max_episode_steps or 1
        assert (episode_steps < limit).all()  # no episode outlives its limit


@pytest.mark.parametrize("name", ENVS)
def test_bad_actions_are_refused_with_clear_errors(name):
    env = make_env(tasks_of(name, 2))
    with pytest.raises(EnvError, match=r"reset\(\)"):
        env.step(np.zeros(env.num_envs, dtype=np.int64))
    env.reset(seed=0)
    too_far = env.num_actions.copy()
    with pytest.raises(EnvError, match=f"action {too_far[0]} is not available in task 0"):
        env.step(too_far)
    with pytest.raises(EnvError, match="shape"):
        env.step(np.zeros(env.num_envs + 1, dtype=np.int64))
    with pytest.raises(EnvError, match="integer"):
        env.step(np.zeros(env.num_envs))


@pytest.mark.parametrize("name", ENVS)
def test_same_seed_same_trajectory(name):
    def run(seed):
        traj = rollout(RandomPolicy(), make_env(tasks_of(name)), seed=seed, steps=80)
        return traj.observations, traj.actions, traj.rewards, traj.dones

    for a, b in zip(run(5), run(5), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ENVS)
def test_per_task_streams_make_a_task_independent_of_its_batch(name):
    tasks = tasks_of(name)
    seeds = [[7, i] for i in range(len(tasks))]
    whole = rollout(RandomPolicy(), make_env(tasks), task_seeds=seeds, steps=60)
    for b in (0, len(tasks) // 2, len(tasks) - 1):
        alone = rollout(RandomPolicy(), make_env(tasks.subset([b])), task_seeds=seeds[b:b + 1], steps=60)
        np.testing.assert_array_equal(alone.actions[0], whole.actions[b])
        np.testing.assert_array_equal(alone.rewards[0], whole.rewards[b])
        np.testing.assert_array_equal(alone.observations[0], whole.observations[b])


@pytest.mark.parametrize("name", ENVS)
def test_select_steps_exactly_like_the_whole_batch(name):
    tasks = tasks_of(name)
    env = make_env(tasks)
    if not env.supports_select:
        pytest.skip(f"{name} does not support select")
    env.reset(seed=TaskStreams.from_seeds(range(len(tasks))))
    rng = np.random.default_rng(1)
    for _ in range(7):
        env.step(random_actions(env, rng))
    index = np.array([0, 2, len(tasks) - 1])
    sub = env.select(index)
    for _ in range(40):
        actions = random_actions(env, rng)
        full = env.step(actions)
        part = sub.step(actions[index])
        for a, b in zip(full[:3], part[:3], strict=True):
            np.testing.assert_array_equal(a[index], b)


@pytest.mark.parametrize("name", ENVS)
def test_teacher_and_baselines_play_the_env(name):
    spec = ENV_SPECS[name]
    tasks = tasks_of(name, 2)
    horizon = Horizon(episodes=3) if spec.episodic else Horizon(steps=30)
    for row in dict.fromkeys([spec.teacher, *spec.baselines]):
        teacher, _ = parse_baseline(row)
        traj = rollout(make_teacher(teacher), make_env(tasks), seed=0, **horizon.kwargs())
        assert traj.valid.any(axis=1).all()


@pytest.mark.parametrize("name", ENVS)
def test_teachers_play_with_per_task_streams(name):
    """Every teacher and baseline can be rolled out with one random stream per task (as evaluation
    seeds a model), also while finished tasks retire from the batch (regression: the streams were
    not cut down with the batch, and Q-learning drew float32 numbers they did not offer)."""
    spec = ENV_SPECS[name]
    tasks = tasks_of(name, 3)
    horizon = Horizon(episodes=4) if spec.episodic else Horizon(steps=30)
    for row in dict.fromkeys([spec.teacher, *spec.baselines]):
        teacher, _ = parse_baseline(row)
        traj = rollout(make_teacher(teacher), make_env(tasks), task_seeds=[[7, i] for i in range(len(tasks))],
                       retire_below=0.9, **horizon.kwargs())
        if spec.episodic:
            assert ((traj.dones & traj.valid).sum(axis=1) == 4).all(), row  # every task played its 4 episodes
        else:
            assert traj.valid.all(), row
        again = rollout(make_teacher(teacher), make_env(tasks), task_seeds=[[7, i] for i in range(len(tasks))],
                        retire_below=0.9, **horizon.kwargs())
        np.testing.assert_array_equal(traj.actions, again.actions, err_msg=row)  # seeded: the same play
