"""Teachers (batched learning algorithms) and the rollout loop that drives them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icrl.envs import make_env
from icrl.envs.base import EnvError, TaskSet
from icrl.rollout import rollout
from icrl.suites import ENV_SPECS, eval_suite, parse_baseline, train_tasks
from icrl.teachers import (
    TEACHERS,
    QLearning,
    make_teacher,
    random_actions,
    random_argmax,
)

BANDIT_TEACHERS = ("random", "egreedy", "ucb", "thompson")


def final_regret(teacher: str, tasks: TaskSet, seed: int = 0, steps: int = 300) -> float:
    traj = rollout(make_teacher(teacher), make_env(tasks), steps=steps, seed=seed)
    return float(traj.cumulative_regret()[:, -1].mean())


# -- learning quality ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bandit_regrets():
    """Mean final regret (300 steps, 200 tasks) of every bandit teacher on a few eval suites."""
    out = {}
    for suite in ("train", "all_new", "num_30", "num_50"):
        tasks = eval_suite("bandit", suite, seed=0, num_tasks=200)
        out[suite] = {name: final_regret(name, tasks, seed=1) for name in BANDIT_TEACHERS}
    return out


@pytest.mark.parametrize("suite", ["train", "all_new", "num_30", "num_50"])
def test_bandit_teachers_learn_far_better_than_random(bandit_regrets, suite):
    r = bandit_regrets[suite]
    # Random pays ~0.4 per step on these suites; every learner must pay a fraction of that.
    assert r["random"] > 100
    for name in ("egreedy", "ucb", "thompson"):
        assert r[name] < 0.5 * r["random"], (name, r)
    assert r["thompson"] < 0.45 * r["random"], r


def test_thompson_matches_the_paper_and_beats_ucb_with_many_arms(bandit_regrets):
    # SPEC section 4: Thompson's final regret is 21.2 on `train` and 55.6 at 50 arms (paper).
    assert 17 < bandit_regrets["train"]["thompson"] < 26
    assert 48 < bandit_regrets["num_50"]["thompson"] < 62
    # UCB (alpha=0.3, one pull of every arm first) falls behind Thompson once arms are many.
    # (With <= 20 arms the greedier UCB is about as good as Thompson, within ~1-2 regret.)
    for suite in ("num_30", "num_50"):
        r = bandit_regrets[suite]
        assert r["thompson"] < r["ucb"] < r["random"], (suite, r)
    for suite in ("train", "all_new"):
        r = bandit_regrets[suite]
        assert abs(r["thompson"] - r["ucb"]) < 4, (suite, r)
        assert r["ucb"] < r["egreedy"] < r["random"], (suite, r)


def test_linucb_beats_random_clearly_on_contextual():
    for suite in ("eval", "num_50"):
        tasks = eval_suite("contextual", suite, seed=0, num_tasks=100)
        linucb, random = final_regret("linucb", tasks), final_regret("random", tasks)
        assert linucb < 0.5 * random, (suite, linucb, random)


def test_qlearning_solves_darkroom_and_random_does_not():
    tasks = eval_suite("darkroom", "train_train", seed=0, num_tasks=100)
    returns = {}
    for name in ("qlearning", "random"):
        traj = rollout(make_teacher(name, **({"num_episodes": 200} if name == "qlearning" else {})),
                       make_env(tasks), episodes=200, seed=3)
        returns[name] = traj.episode_returns()
        assert returns[name].shape == (100, 200)
    q, r = returns["qlearning"], returns["random"]
    assert q[:, -1].mean() >= 0.8, q[:, -1].mean()
    assert q[:, -20:].mean() >= 0.8
    assert q[:, :5].mean() < 0.5  # it starts from scratch: learning, not luck
    assert r[:, -50:].mean() < 0.4 and r[:, -1].mean() < 0.5, (r[:, -50:].mean(), r[:, -1].mean())


# -- action sets --------------------------------------------------------------------------------
def mixed_tasks(env: str) -> TaskSet:
    """Tasks of one env whose action counts differ widely within the batch (including 1)."""
    if env == "bandit":
        parts = [eval_suite("bandit", s, 0, 6) for s in ("train", "num_10", "num_100")]
        rng = np.random.default_rng(0)
        tiny = TaskSet("bandit", [1, 2, 3], np.array([[0, -1, -1], [0, 1, -1], [0, 1, 2]]),
                       {"means": rng.random((3, 3))})
        return TaskSet.concatenate([*parts, tiny])
    if env == "contextual":
        parts = [eval_suite("contextual", s, 0, 6) for s in ("train", "num_20", "num_100")]
        return TaskSet.concatenate(parts)
    parts = [eval_suite("darkroom", s, 0, 6) for s in ("train_train", "test_test", "all_train")]
    one = TaskSet("darkroom", [1, 3], np.array([[60, -1, -1], [5, 60, 110]]), {"goals": np.array([0, 80])})
    return TaskSet.concatenate([*parts, one])


TEACHERS_BY_ENV = [
    ("bandit", "random"), ("bandit", "egreedy"), ("bandit", "ucb"), ("bandit", "thompson"),
    ("contextual", "random"), ("contextual", "egreedy"), ("contextual", "ucb"), ("contextual", "linucb"),
    ("darkroom", "random"), ("darkroom", "qlearning"),
]


@pytest.mark.parametrize(("env", "teacher"), TEACHERS_BY_ENV)
def test_teachers_only_pick_available_actions(env, teacher):
    tasks = mixed_tasks(env)
    assert len(np.unique(tasks.num_actions)) >= 3
    policy = make_teacher(teacher, **({"epsilon": 0.5} if teacher == "egreedy" else {}))
    traj = rollout(policy, make_env(tasks), steps=150, seed=0)
    n = tasks.num_actions[:, None]
    assert (traj.actions >= 0).all()
    assert (traj.actions < n).all(), np.argwhere(traj.actions >= n)[:5]
    # A task with a single action can only ever take it; a wide task uses more than its first few.
    single = tasks.num_actions == 1
    assert (traj.actions[single] == 0).all()
    if teacher in ("random", "ucb", "egreedy", "thompson", "qlearning"):
        widest = int(np.argmax(tasks.num_actions))
        assert traj.actions[widest].max() >= 20


@pytest.mark.parametrize("teacher", ["ucb", "egreedy", "linucb"])
def test_first_pull_ties_are_broken_uniformly(teacher):
    # Before any data every arm scores the same: the first choice must be uniform, not arm 0.
    env = "contextual" if teacher == "linucb" else "bandit"
    tasks = eval_suite(env, "num_20", seed=0, num_tasks=4000)
    policy = make_teacher(teacher, **({"epsilon": 0.0} if teacher == "egreedy" else {}))
    traj = rollout(policy, make_env(tasks), steps=1, seed=0)
    counts = np.bincount(traj.actions[:, 0], minlength=20)
    expected = len(tasks) / 20
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 43.8, counts  # p = 0.001 at 19 degrees of freedom


def test_ucb_tries_every_arm_once_before_repeating():
    tasks = eval_suite("bandit", "num_20", seed=0, num_tasks=50)
    traj = rollout(make_teacher("ucb"), make_env(tasks), steps=20, seed=0)
    assert all(len(np.unique(row)) == 20 for row in traj.actions)


# -- random_argmax and random_actions -----------------------------------------------------------
def test_random_argmax_breaks_ties_uniformly_among_the_maxima_only():
    rng = np.random.default_rng(0)
    n = 30_000
    scores = np.tile(np.array([1.0, 3.0, 3.0, -np.inf, 3.0, 2.9]), (n, 1))
    picks = random_argmax(scores, rng)
    counts = np.bincount(picks, minlength=6)
    assert counts[[0, 3, 5]].sum() == 0
    observed = counts[[1, 2, 4]]
    chi2 = ((observed - n / 3) ** 2 / (n / 3)).sum()
    assert chi2 < 13.8, observed  # p = 0.001 at 2 degrees of freedom


def test_random_argmax_without_ties_is_the_argmax():
    rng = np.random.default_rng(1)
    scores = rng.standard_normal((500, 17))
    scores[:, 11:] = -np.inf
    np.testing.assert_array_equal(random_argmax(scores, rng), np.argmax(scores, axis=1))


@settings(max_examples=50, deadline=None)
@given(
    rows=st.lists(st.lists(st.integers(-3, 3), min_size=1, max_size=8), min_size=1, max_size=8),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_argmax_always_returns_a_maximum(rows, seed):
    width = max(len(r) for r in rows)
    scores = np.full((len(rows), width), -np.inf)
    for i, r in enumerate(rows):
        scores[i, : len(r)] = r
    picks = random_argmax(scores, np.random.default_rng(seed))
    assert (scores[np.arange(len(rows)), picks] == scores.max(axis=1)).all()


def test_random_actions_are_uniform_within_each_count():
    rng = np.random.default_rng(0)
    num_actions = np.repeat(np.array([1, 2, 7, 125]), 20_000)
    actions = random_actions(num_actions, rng)
    assert ((actions >= 0) & (actions < num_actions)).all()
    for k in (2, 7):
        counts = np.bincount(actions[num_actions == k], minlength=k)
        expected = 20_000 / k
        assert ((counts - expected) ** 2 / expected).sum() < 25, counts
    assert len(np.unique(actions[num_actions == 125])) == 125


# -- construction -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("egreedy", {"epsilon": -0.1}),
        ("egreedy", {"epsilon": 1.5}),
        ("ucb", {"alpha": -1.0}),
        ("thompson", {"prior_a": 0.0}),
        ("thompson", {"prior_b": -1.0}),
        ("linucb", {"alpha": -0.3}),
        ("linucb", {"ridge": 0.0}),
        ("qlearning", {"num_episodes": 0}),
        ("qlearning", {"lr": 0.0}),
        ("qlearning", {"lr": 1.5}),
        ("qlearning", {"discount": -0.1}),
        ("qlearning", {"discount": 1.1}),
        ("qlearning", {"decay_fraction": 0.0}),
        ("ucb", {"beta": 1.0}),  # not an option of UCB at all
    ],
)
def test_bad_hyperparameters_raise_value_error(name, kwargs):
    with pytest.raises(ValueError, match=name if "beta" in kwargs else None):
        make_teacher(name, **kwargs)
    if "beta" not in kwargs:
        with pytest.raises(ValueError):
            TEACHERS[name](**kwargs)


def test_make_teacher_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError) as err:
        make_teacher("sarsa")
    message = str(err.value)
    assert "sarsa" in message
    for known in ("random", "egreedy", "ucb", "thompson", "linucb", "qlearning"):
        assert known in message


def test_every_registered_teacher_is_made_by_name():
    assert set(TEACHERS) == {"random", "dirichlet", "egreedy", "ucb", "thompson", "linucb", "qlearning", "explore_replay",
                             "noisy_oracle"}
    for name, cls in TEACHERS.items():
        assert type(make_teacher(name)) is cls


def test_qlearning_refuses_vector_observations():
    tasks = eval_suite("contextual", "eval", 0, 4)
    with pytest.raises(ValueError, match="discrete"):
        rollout(QLearning(), make_env(tasks), steps=3, seed=0)


def test_qlearning_update_bootstraps_zero_at_the_goal_and_from_the_landing_cell_at_time_limit():
    tasks = eval_suite("darkroom", "all_train", 0, 3)
    env = make_env(tasks)
    policy = QLearning(lr=1.0, discount=0.5)
    env.reset(seed=0)
    policy.reset(env, np.random.default_rng(0))
    q0 = policy.q.copy()
    obs = np.array([40, 40, 40])
    actions = np.array([3, 4, 5])
    rewards = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    dones = np.array([True, True, False])
    next_obs = np.array([40, 40, 50])  # ended episodes were reset to the start cell
    info = {"terminal": np.array([True, False, False]), "final_obs": np.array([41, 13, 50])}
    policy.observe(obs, actions, rewards, dones, next_obs, info)
    assert policy.q[0, 40, 3] == 1.0  # goal: Q(terminal) = 0
    assert policy.q[1, 40, 4] == pytest.approx(0.5 * q0[1, 13].max())  # time limit: where it landed
    assert policy.q[2, 40, 5] == pytest.approx(0.5 * q0[2, 50].max())
    np.testing.assert_array_equal(policy.episode, [1, 1, 0])
    changed = policy.q != q0
    assert changed.sum() == 3
    assert np.isinf(q0).sum() == 0  # all 125 actions available: no -inf entries


def test_qlearning_epsilon_decays_per_task():
    tasks = eval_suite("darkroom", "train_train", 0, 30)
    policy = QLearning(num_episodes=10, decay_fraction=0.5)
    traj = rollout(policy, make_env(tasks), episodes=10, seed=0)
    finished = (traj.dones & traj.valid).sum(axis=1)
    assert (finished == 10).all()
    # After 5 of its own episodes a task is fully greedy; before that epsilon falls linearly.
    assert (policy.epsilon == 0).all()
    policy.episode = np.array([0, 1, 2, 5, 9] * 6)
    np.testing.assert_allclose(policy.epsilon, np.array([1.0, 0.8, 0.6, 0.0, 0.0] * 6))


# -- rollout ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "teacher", "obs_tail", "has_regret"),
    [("bandit", "thompson", (), True), ("contextual", "linucb", (2,), True), ("darkroom", "qlearning", (), False)],
)
def test_rollout_steps_mode_shapes(env, teacher, obs_tail, has_regret):
    tasks = train_tasks(env, 7, seed=0)
    traj = rollout(make_teacher(teacher), make_env(tasks), steps=33, seed=0)
    assert traj.observations.shape == (7, 33, *obs_tail)
    for name in ("actions", "rewards", "dones", "valid"):
        assert getattr(traj, name).shape == (7, 33), name
    assert traj.valid.all()
    np.testing.assert_array_equal(traj.lengths, np.full(7, 33))
    if has_regret:
        assert traj.regrets.shape == (7, 33)
        assert (traj.regrets >= -1e-12).all()
        cum = traj.cumulative_regret()
        assert cum.shape == (7, 33) and (np.diff(cum, axis=1) >= -1e-12).all()
        assert traj.dones.all()  # every bandit pull is an episode
    else:
        assert traj.regrets is None
        with pytest.raises(ValueError):
            traj.cumulative_regret()


@pytest.mark.parametrize("teacher", ["random", "qlearning"])
def test_rollout_episodes_mode_darkroom(teacher):
    E = 7
    tasks = TaskSet.concatenate([eval_suite("darkroom", s, 0, 20) for s in ("train_train", "all_test")])
    traj = rollout(make_teacher(teacher), make_env(tasks), episodes=E, seed=5)
    B, T = traj.actions.shape
    returns = traj.episode_returns()
    assert returns.shape == (B, E)
    assert not np.isnan(returns).any()
    assert set(np.unique(returns)) <= {0.0, 1.0}
    ends = traj.dones & traj.valid
    np.testing.assert_array_equal(ends.sum(axis=1), np.full(B, E))
    lengths = traj.lengths
    for b in range(B):
        # valid is a prefix that stops exactly at the E-th episode end
        assert traj.valid[b, : lengths[b]].all() and not traj.valid[b, lengths[b]:].any()
        assert traj.dones[b, lengths[b] - 1]
        # each episode lasts 1..20 steps and pays 1 only when it ended early, on the goal
        ep_ends = np.flatnonzero(ends[b])
        durations = np.diff(ep_ends, prepend=-1)
        assert ((durations >= 1) & (durations <= 20)).all()
        np.testing.assert_array_equal(returns[b], traj.rewards[b, ep_ends])
        assert (returns[b][durations < 20] == 1).all()
    assert T == lengths.max()  # the loop stops as soon as every task is done
    assert lengths.min() < T  # ... and tasks really did finish at different times


def test_rollout_episodes_mode_on_bandits_counts_pulls():
    tasks = eval_suite("bandit", "num_10", 0, 5)
    traj = rollout(make_teacher("ucb"), make_env(tasks), episodes=12, seed=0)
    assert traj.actions.shape == (5, 12) and traj.valid.all()
    assert traj.episode_returns().shape == (5, 12)


@pytest.mark.parametrize(("env", "teacher"), [("bandit", "thompson"), ("contextual", "linucb"), ("darkroom", "qlearning")])
def test_rollout_seeding(env, teacher):
    tasks = train_tasks(env, 6, seed=0)
    horizon = {"episodes": 4} if env == "darkroom" else {"steps": 60}

    def run(seed):
        return rollout(make_teacher(teacher), make_env(tasks), seed=seed, **horizon)

    a, b, c = run(11), run(11), run(12)
    for name in ("observations", "actions", "rewards", "dones", "valid"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    differs = [
        getattr(a, n).shape != getattr(c, n).shape or not np.array_equal(getattr(a, n), getattr(c, n))
        for n in ("actions", "rewards")
    ]
    assert any(differs)


def test_rollout_rejects_bad_horizons():
    env = make_env(eval_suite("bandit", "num_10", 0, 2))
    for kwargs in ({}, {"steps": 5, "episodes": 5}, {"steps": 0}, {"episodes": 0}):
        with pytest.raises(EnvError):
            rollout(make_teacher("random"), env, seed=0, **kwargs)


def test_every_env_has_a_baseline_that_is_a_teacher():
    for spec in ENV_SPECS.values():
        assert spec.teacher in TEACHERS
        assert {parse_baseline(row)[0] for row in spec.baselines} <= set(TEACHERS)


# -- select and retiring finished tasks ---------------------------------------------------------
SELECT_CASES = [
    ("bandit", "random"), ("bandit", "egreedy"), ("bandit", "ucb"), ("bandit", "thompson"),
    ("contextual", "linucb"), ("darkroom", "random"), ("darkroom", "qlearning"),
]


def per_task_state(policy) -> dict[str, np.ndarray]:
    """Every per-task array of a teacher, one row per current task."""
    state = {"num_actions": policy.num_actions, "action_mask": policy.action_mask}
    if isinstance(policy, QLearning):
        S = policy.q.shape[1]
        rows = policy._state_rows[:, None] + np.arange(S)  # (B, S) rows of _q_rows() and v
        state |= {"q": policy._q_rows()[rows], "v": policy.v[rows], "greedy": policy.greedy[rows],
                  "tied": policy.tied[rows], "episode": policy.episode}
    for name in ("counts", "sums", "_means", "_pulls", "a_inv", "b"):
        if hasattr(policy, name):
            state[name] = getattr(policy, name)
    return state


@pytest.mark.parametrize(("env_name", "teacher"), SELECT_CASES)
def test_policy_select_keeps_each_tasks_state(env_name, teacher):
    import copy

    tasks = mixed_tasks(env_name)
    env = make_env(tasks)
    policy = make_teacher(teacher)
    assert policy.supports_select and env.supports_select
    obs = env.reset(seed=0)
    policy.reset(env, np.random.default_rng(0))

    def step(obs):
        actions = policy.act(obs)
        next_obs, rewards, dones, info = env.step(actions)
        policy.observe(obs, actions, rewards, dones, next_obs, info)
        return actions, next_obs, rewards, dones, info

    for _ in range(60):
        obs = step(obs)[1]
    index = np.array(sorted({0, 2, 3, len(tasks) // 2, len(tasks) - 1}))
    sub = copy.deepcopy(policy)
    sub.select(index)
    assert sub.num_envs == len(index) and policy.num_envs == len(tasks)
    # The kept tasks learn from the same steps exactly as they do in the whole batch.
    for _ in range(60):
        prev = obs
        actions, obs, rewards, dones, info = step(obs)
        sub.observe(prev[index], actions[index], rewards[index], dones[index], obs[index],
                    {k: v[index] for k, v in info.items()})
    full_state, sub_state = per_task_state(policy), per_task_state(sub)
    assert set(full_state) == set(sub_state)
    for name, value in full_state.items():
        np.testing.assert_array_equal(sub_state[name], value[index], err_msg=name)
    # Where acting involves no randomness, the kept tasks act as they would in the whole batch.
    if teacher in ("ucb", "linucb", "qlearning"):
        if teacher == "qlearning":
            policy.episode[:] = sub.episode[:] = policy.num_episodes  # epsilon 0: greedy
        full_actions, sub_actions = policy.act(obs), sub.act(obs[index])
        certain = np.ones(len(index), dtype=bool)
        if teacher == "qlearning":  # tied rows pick one of their maxima at random
            certain = ~sub.tied[sub._state_rows + obs[index]]
        assert certain.sum() >= len(index) - 1
        np.testing.assert_array_equal(sub_actions[certain], full_actions[index][certain])


def test_policies_without_select_refuse_it():
    from icrl.teachers.base import Policy

    class Plain(Policy):
        def act(self, obs):
            return np.zeros(self.num_envs, dtype=np.int64)

    assert not Plain.supports_select
    with pytest.raises(NotImplementedError, match="supports_select"):
        Plain().select(np.array([0]))


class Cycle:
    """A deterministic policy with per-task state: task b takes ``(7 * id + steps + obs) % n``."""

    name = "cycle"
    supports_select = True

    def reset(self, env, rng, horizon=None):
        self.num_envs, self.num_actions = env.num_envs, env.num_actions
        self.task = np.arange(env.num_envs)
        self.steps = np.zeros(env.num_envs, dtype=np.int64)
        self.selected = 0

    def select(self, index):
        self.num_envs, self.num_actions = len(index), self.num_actions[index]
        self.task, self.steps = self.task[index], self.steps[index]
        self.selected += 1

    def act(self, obs):
        return (7 * self.task + self.steps + obs) % self.num_actions

    def observe(self, obs, actions, rewards, dones, next_obs, info):
        self.steps += 1


class CycleWithoutSelect(Cycle):
    supports_select = False

    def select(self, index):
        raise AssertionError("rollout must not select from a policy without select support")


def darkroom_mix(n: int = 20) -> TaskSet:
    return TaskSet.concatenate([eval_suite("darkroom", s, 0, n) for s in ("train_train", "all_test", "test_test")])


@pytest.mark.parametrize("retire_below", [0.5, 0.9, 1.0])
def test_retiring_finished_tasks_changes_nothing_but_the_work(retire_below):
    E = 9
    tasks = darkroom_mix()
    reference = rollout(CycleWithoutSelect(), make_env(tasks), episodes=E, seed=0)
    policy = Cycle()
    env = make_env(tasks)
    traj = rollout(policy, env, episodes=E, seed=0, retire_below=retire_below)
    assert policy.selected >= 1
    assert 0 < policy.num_envs < len(tasks)  # only the last tasks to finish were still stepped
    assert env.num_envs == len(tasks)  # the caller's environment keeps all of its tasks
    assert traj.actions.shape == reference.actions.shape == (len(tasks), reference.lengths.max())
    np.testing.assert_array_equal(traj.valid, reference.valid)
    np.testing.assert_array_equal(traj.lengths, reference.lengths)
    for name in ("observations", "actions", "rewards", "dones"):
        np.testing.assert_array_equal(getattr(traj, name)[traj.valid], getattr(reference, name)[traj.valid], err_msg=name)
    ends = traj.dones & traj.valid
    np.testing.assert_array_equal(ends.sum(axis=1), np.full(len(tasks), E))
    np.testing.assert_array_equal(traj.episode_returns(), reference.episode_returns())
    # A retired task is stepped no more: its record after it was dropped is zeros.
    invalid = traj.actions[~traj.valid]
    assert (invalid == 0).all() if retire_below == 1.0 else (invalid == 0).any()


def test_retiring_can_be_turned_off():
    tasks = darkroom_mix(8)
    policy = Cycle()
    traj = rollout(policy, make_env(tasks), episodes=5, seed=0, retire_below=0.0)
    assert policy.selected == 0 and policy.num_envs == len(tasks)
    # every task was stepped to the end: steps after its last episode are recorded, not valid
    assert (traj.actions[~traj.valid] != 0).any()
    with pytest.raises(EnvError):
        rollout(Cycle(), make_env(tasks), episodes=5, seed=0, retire_below=1.5)


def test_steps_mode_never_retires():
    tasks = darkroom_mix(5)
    policy = Cycle()
    traj = rollout(policy, make_env(tasks), steps=70, seed=0)
    assert policy.selected == 0 and traj.valid.all() and traj.actions.shape == (len(tasks), 70)


def test_qlearning_learns_the_same_with_and_without_retiring():
    tasks = eval_suite("darkroom", "train_train", seed=0, num_tasks=300)
    stats = {}
    for retire_below in (0.0, 0.9):
        policy = QLearning(num_episodes=60)
        traj = rollout(policy, make_env(tasks), episodes=60, seed=int(retire_below > 0), retire_below=retire_below)
        returns = traj.episode_returns()
        assert returns.shape == (300, 60) and not np.isnan(returns).any()
        stats[retire_below] = (traj.lengths.mean(), returns[:, -10:].mean(), traj.rewards[traj.valid].mean())
    (len0, succ0, rew0), (len1, succ1, rew1) = stats[0.0], stats[0.9]
    assert abs(len1 - len0) / len0 < 0.05, stats
    assert abs(succ1 - succ0) < 0.06, stats
    assert abs(rew1 - rew0) / rew0 < 0.1, stats


def test_qlearning_row_summaries_stay_exact():
    tasks = TaskSet.concatenate([mixed_tasks("darkroom"), eval_suite("darkroom", "train_train", 0, 40)])
    policy = QLearning(num_episodes=200)
    rollout(policy, make_env(tasks), episodes=200, seed=0)
    q = policy._q_rows()
    np.testing.assert_array_equal(policy.v, q.max(axis=1))
    np.testing.assert_array_equal(q[np.arange(len(q)), policy.greedy], policy.v)
    np.testing.assert_array_equal(policy.tied, (q == policy.v[:, None]).sum(axis=1) > 1)
    assert policy.tied.any()  # learned values converge to exactly equal numbers


def test_qlearning_breaks_ties_uniformly_among_the_maxima():
    tasks = eval_suite("darkroom", "train_train", seed=0, num_tasks=3000)
    env = make_env(tasks)
    policy = QLearning()
    obs = env.reset(seed=0)
    policy.reset(env, np.random.default_rng(0))
    rows = policy._state_rows + obs
    q = policy._q_rows()
    q[rows] = 0.25
    q[rows[:, None], [2, 5, 9]] = 0.75  # three tied maxima in every task's start state
    q[rows[::2], 30] = 0.75  # ... and a fourth in half of them
    policy._summarize(rows)
    policy.episode[:] = policy.num_episodes  # epsilon 0: greedy
    actions = policy.act(obs)
    for chosen, arms in ((actions[1::2], [2, 5, 9]), (actions[::2], [2, 5, 9, 30])):
        counts = np.bincount(chosen, minlength=50)
        assert counts[arms].sum() == len(chosen)
        expected = len(chosen) / len(arms)
        chi2 = ((counts[arms] - expected) ** 2 / expected).sum()
        assert chi2 < 16.3, counts[arms]  # p = 0.001 at 3 degrees of freedom


def test_qlearning_schedule_follows_the_horizon_it_is_run_for():
    """The epsilon schedule spans the episodes rollout gives it (the Horizon handed to reset),
    unless num_episodes is set; no caller has to pass it in."""
    tasks = eval_suite("darkroom", "train_train", seed=0, num_tasks=3)
    free, fixed = make_teacher("qlearning"), make_teacher("qlearning", num_episodes=50)
    rollout(free, make_env(tasks), episodes=7, seed=0)
    rollout(fixed, make_env(tasks), episodes=7, seed=0)
    assert free.num_episodes == 7 and fixed.num_episodes == 50
    rollout(free, make_env(tasks), steps=30, seed=0)  # counted in steps: the paper's 200 episodes
    assert free.num_episodes == 200
