"""Batched environments: darkroom dynamics, bandit statistics and regret, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icrl.envs import BernoulliBandit, ContextualBandit, DarkRoom, EnvError, TaskSet, make_env
from icrl.envs.darkroom import (
    MAX_STEPS,
    NUM_COMPOUND_ACTIONS,
    START,
    cell,
    compound_moves,
    describe_action,
)

NOOP, UP, RIGHT, DOWN, LEFT = range(5)
CENTRE = cell(*START)


def compound(m0: int, m1: int, m2: int) -> int:
    return 25 * m0 + 5 * m1 + m2


def darkroom(goals, action_sets, seed=0) -> DarkRoom:
    """A darkroom with one task per goal ((row, col) pairs) and the given per-task action ids."""
    width = max(len(a) for a in action_sets)
    padded = np.full((len(action_sets), width), -1)
    for b, ids in enumerate(action_sets):
        padded[b, : len(ids)] = ids
    goal_cells = np.array([cell(r, c) for r, c in goals])
    tasks = TaskSet("darkroom", [len(a) for a in action_sets], padded, {"goals": goal_cells})
    return DarkRoom(tasks, seed)


def bandit(means_rows, seed=0) -> BernoulliBandit:
    width = max(len(m) for m in means_rows)
    means = np.zeros((len(means_rows), width))
    action_sets = np.full((len(means_rows), width), -1)
    for b, m in enumerate(means_rows):
        means[b, : len(m)] = m
        action_sets[b, : len(m)] = np.arange(len(m))
    return BernoulliBandit(
        TaskSet("bandit", [len(m) for m in means_rows], action_sets, {"means": means}), seed
    )


def contextual(features, seed=0) -> ContextualBandit:
    features = np.asarray(features, dtype=np.float64)
    B, A, _ = features.shape
    tasks = TaskSet(
        "contextual", np.full(B, A), np.tile(np.arange(A), (B, 1)), {"arm_features": features}
    )
    return ContextualBandit(tasks, seed)


# -- darkroom -----------------------------------------------------------------------------------
def test_compound_action_ids_round_trip():
    ids = np.arange(NUM_COMPOUND_ACTIONS)
    moves = compound_moves(ids)
    assert moves.shape == (NUM_COMPOUND_ACTIONS, 3)
    np.testing.assert_array_equal(25 * moves[:, 0] + 5 * moves[:, 1] + moves[:, 2], ids)
    assert describe_action(compound(UP, RIGHT, DOWN)) == "up-right-down"


@pytest.mark.parametrize(
    "goal, moves",
    [
        ((3, 4), (UP, DOWN, DOWN)),  # goal on the first move, left again by the 2nd and 3rd
        ((3, 5), (UP, RIGHT, DOWN)),  # goal on the second move, left by the third
        ((4, 5), (UP, RIGHT, DOWN)),  # goal on the last move
    ],
)
def test_darkroom_path_through_goal_pays_and_ends(goal, moves):
    env = darkroom([goal], [[compound(*moves)]])
    assert env.reset().tolist() == [CENTRE]
    obs, reward, done, info = env.step(np.array([0]))
    assert reward.tolist() == [1.0]
    assert done.tolist() == [True]
    assert info["success"].tolist() == [True]
    assert obs.tolist() == [CENTRE]  # auto-reset to the start of the next episode
    end = np.array(START)
    for m in moves:
        end = end + np.array([(0, 0), (-1, 0), (0, 1), (1, 0), (0, -1)][m])
    assert info["final_obs"].tolist() == [cell(*end)]  # where the step really led


def test_darkroom_path_missing_goal_pays_nothing():
    env = darkroom([(3, 3)], [[compound(UP, RIGHT, DOWN)]])
    env.reset()
    obs, reward, done, info = env.step(np.array([0]))
    assert (
        reward.tolist() == [0.0]
        and done.tolist() == [False]
        and info["success"].tolist() == [False]
    )
    assert obs.tolist() == [cell(4, 5)]


def test_darkroom_walls_clip_moves():
    up3, left3 = compound(UP, UP, UP), compound(LEFT, LEFT, LEFT)
    env = darkroom([(8, 8)], [[up3, left3]])
    env.reset()
    assert env.step(np.array([0]))[0].tolist() == [cell(1, 4)]
    assert env.step(np.array([0]))[0].tolist() == [cell(0, 4)]  # 1 -> 0, then clipped at the wall
    assert env.step(np.array([0]))[0].tolist() == [cell(0, 4)]  # moving up from row 0 stays
    assert env.step(np.array([1]))[0].tolist() == [cell(0, 1)]
    assert env.step(np.array([1]))[0].tolist() == [cell(0, 0)]
    corner = np.array([cell(0, 0)])
    assert env.step(np.array([1]))[0].tolist() == corner.tolist()
    assert env.step(np.array([0]))[0].tolist() == corner.tolist()


def test_darkroom_walls_clip_each_move_not_the_sum():
    # From row 0, up-down-down must end in row 2 (clip, then move), not row 1 (sum, then clip).
    env = darkroom([(8, 8)], [[compound(UP, UP, UP), compound(UP, DOWN, DOWN)]])
    env.reset()
    env.step(np.array([0]))
    env.step(np.array([0]))
    assert env.step(np.array([1]))[0].tolist() == [cell(2, 4)]


def test_darkroom_episode_times_out_after_max_steps():
    env = darkroom([(8, 8)], [[compound(UP, UP, UP)]])
    env.reset()
    for t in range(MAX_STEPS - 1):
        obs, reward, done, _ = env.step(np.array([0]))
        assert not done[0] and reward[0] == 0.0, t
    assert obs.tolist() == [cell(0, 4)]
    obs, reward, done, info = env.step(np.array([0]))
    assert done.tolist() == [True] and reward.tolist() == [0.0]
    assert info["success"].tolist() == [False]
    assert info["final_obs"].tolist() == [cell(0, 4)]
    assert obs.tolist() == [CENTRE]  # auto-reset
    # The next episode is a fresh one: another full MAX_STEPS steps.
    dones = [env.step(np.array([0]))[2][0] for _ in range(MAX_STEPS)]
    assert dones == [False] * (MAX_STEPS - 1) + [True]


def test_darkroom_goal_on_last_step_is_a_success():
    stay, right = compound(NOOP, NOOP, NOOP), compound(RIGHT, NOOP, NOOP)
    env = darkroom([(4, 5)], [[stay, right]])
    env.reset()
    for _ in range(MAX_STEPS - 1):
        env.step(np.array([0]))
    _, reward, done, info = env.step(np.array([1]))
    assert (
        reward.tolist() == [1.0] and done.tolist() == [True] and info["success"].tolist() == [True]
    )


def test_darkroom_staggered_episode_ends():
    up, stay = compound(UP, NOOP, NOOP), compound(NOOP, NOOP, NOOP)
    # task 0 reaches its goal on step 1, task 1 on step 3, task 2 never (times out at MAX_STEPS).
    env = darkroom([(3, 4), (1, 4), (8, 8)], [[up, stay]] * 3)
    env.reset()
    obs, reward, done, _ = env.step(np.array([0, 0, 0]))
    assert done.tolist() == [True, False, False] and reward.tolist() == [1, 0, 0]
    assert obs.tolist() == [CENTRE, cell(3, 4), cell(3, 4)]
    obs, reward, done, _ = env.step(np.array([1, 0, 0]))
    assert done.tolist() == [False, False, False]
    assert obs.tolist() == [CENTRE, cell(2, 4), cell(2, 4)]
    obs, reward, done, info = env.step(np.array([1, 0, 0]))
    assert done.tolist() == [False, True, False] and reward.tolist() == [0, 1, 0]
    assert obs.tolist() == [CENTRE, CENTRE, cell(1, 4)]
    assert info["final_obs"].tolist() == [CENTRE, cell(1, 4), cell(1, 4)]
    # Each task keeps its own clock: task 2 times out at step MAX_STEPS, tasks 0 and 1 (which
    # restarted at steps 1 and 3) at MAX_STEPS + 1 and MAX_STEPS + 3.
    ends = {0: [], 1: [], 2: []}
    for t in range(4, 2 * MAX_STEPS + 1):
        _, _, done, _ = env.step(np.array([1, 1, 1]))
        for b in np.flatnonzero(done):
            ends[int(b)].append(t)
    assert ends == {0: [MAX_STEPS + 1], 1: [MAX_STEPS + 3], 2: [MAX_STEPS, 2 * MAX_STEPS]}


def test_darkroom_local_indices_follow_each_tasks_action_set():
    up, right = compound(UP, NOOP, NOOP), compound(RIGHT, NOOP, NOOP)
    env = darkroom([(8, 8), (8, 8)], [[up, right], [right, up]])
    env.reset()
    obs, *_ = env.step(np.array([0, 0]))
    assert obs.tolist() == [cell(3, 4), cell(4, 5)]


def test_darkroom_rejects_bad_tasks():
    with pytest.raises(EnvError, match="goals"):
        darkroom([(9, 0)], [[0]])
    with pytest.raises(EnvError, match="action ids"):
        darkroom([(0, 0)], [[NUM_COMPOUND_ACTIONS]])


# -- bandits ------------------------------------------------------------------------------------
def test_bandit_reward_frequencies_match_means():
    means = [0.1, 0.5, 0.9, 0.0, 1.0]
    env = bandit([means] * 500, seed=1)
    env.reset()
    for arm, mu in enumerate(means):
        pulls = np.stack([env.step(np.full(500, arm))[1] for _ in range(40)])  # 20,000 pulls
        assert pulls.mean() == pytest.approx(mu, abs=0.015)
        assert set(np.unique(pulls)) <= {0.0, 1.0}


def test_bandit_every_pull_is_an_episode_without_observation():
    env = bandit([[0.2, 0.8]])
    assert env.reset().tolist() == [0]
    obs, _, done, _ = env.step(np.array([1]))
    assert obs.tolist() == [0] and done.tolist() == [True]


def test_bandit_regret_is_expected_regret():
    means = [[0.3, 0.7, 0.1], [0.9, 0.2]]
    env = bandit(means)
    env.tasks.params["means"][1, 2] = 0.99  # a padded arm's mean must not count as the best
    env = BernoulliBandit(env.tasks, 0)
    env.reset()
    for a0, a1 in [(0, 0), (1, 1), (2, 0)]:
        _, _, _, info = env.step(np.array([a0, a1]))
        np.testing.assert_allclose(info["regret"], [0.7 - means[0][a0], 0.9 - means[1][a1]])
    np.testing.assert_allclose(env.step(np.array([1, 0]))[3]["regret"], [0.0, 0.0])


def test_contextual_regret_against_best_arm_for_current_context():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((64, 5, 2))
    env = contextual(features, seed=3)
    obs = env.reset()
    assert obs.shape == (64, 2) and obs.dtype == np.float32
    rows = np.arange(64)
    for t in range(40):
        values = np.einsum("bad,bd->ba", features, obs.astype(np.float64))  # for this context
        # Alternate random arms and the best arm for the context just observed.
        actions = rng.integers(0, 5, size=64) if t % 2 else values.argmax(axis=1)
        obs, _, done, info = env.step(actions)
        assert done.all()  # every pull is an episode; obs is the next context
        expected = values.max(axis=1) - values[rows, actions]
        np.testing.assert_allclose(info["regret"], expected, atol=1e-5)  # obs is float32
        if t % 2 == 0:
            np.testing.assert_array_equal(info["regret"], 0.0)
        assert (info["regret"] >= 0).all()


def test_contextual_rewards_and_contexts_have_the_paper_distribution():
    features = np.array([[[1.0, 0.0], [0.0, -2.0]]] * 1000)
    env = contextual(features, seed=5)
    obs = env.reset()
    contexts, noise = [], []
    for _ in range(20):
        contexts.append(obs)
        mean = np.einsum("bd,bd->b", features[:, 1], obs)
        obs, reward, _, _ = env.step(np.ones(1000, dtype=np.int64))
        noise.append(reward - mean)
    contexts, noise = np.concatenate(contexts), np.concatenate(noise)
    np.testing.assert_allclose(contexts.mean(axis=0), 0.0, atol=0.02)
    np.testing.assert_allclose(contexts.var(axis=0), 0.5, atol=0.02)  # N(0, I) / sqrt(2)
    assert noise.mean() == pytest.approx(0.0, abs=0.03)
    assert noise.std() == pytest.approx(1.0, abs=0.03)  # N(<x_a, s>, 1)


def test_same_seed_same_rewards():
    def run(seed):
        env = bandit([[0.5] * 4] * 8, seed=seed)
        env.reset()
        return np.stack([env.step(np.zeros(8, dtype=np.int64))[1] for _ in range(20)])

    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))


# -- bad input ----------------------------------------------------------------------------------
def _all_envs():
    return {
        "bandit": bandit([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4, 0.5]]),
        "contextual": ContextualBandit(
            TaskSet(
                "contextual",
                [3, 5],
                np.array([[0, 1, 2, -1, -1], [0, 1, 2, 3, 4]]),
                {"arm_features": np.ones((2, 5, 2))},
            ),
        ),
        "darkroom": darkroom([(0, 0), (8, 8)], [[1, 2, 3], [1, 2, 3, 4, 5]]),
    }


@pytest.mark.parametrize("name", ["bandit", "contextual", "darkroom"])
def test_step_before_reset_raises(name):
    env = _all_envs()[name]
    with pytest.raises(EnvError, match=r"reset\(\)"):
        env.step(np.array([0, 0]))


@pytest.mark.parametrize("name", ["bandit", "contextual", "darkroom"])
@pytest.mark.parametrize(
    "actions, pattern",
    [
        ([3, 0], r"action 3 is not available in task 0, which has 3 actions \(allowed 0\.\.2\)"),
        ([0, 5], r"action 5 is not available in task 1, which has 5 actions"),
        ([-1, 0], r"action -1 is not available in task 0"),
        ([0, -7], r"action -7 is not available in task 1"),
    ],
)
def test_unavailable_actions_raise(name, actions, pattern):
    env = _all_envs()[name]
    env.reset()
    with pytest.raises(EnvError, match=pattern):
        env.step(np.array(actions))
    env.step(np.array([2, 4]))  # the largest allowed indices are fine


@pytest.mark.parametrize("name", ["bandit", "contextual", "darkroom"])
@pytest.mark.parametrize(
    "actions, pattern",
    [
        (np.array([0, 0, 0]), r"shape \(2,\), got \(3,\)"),
        (np.array([[0, 0]]), r"got \(1, 2\)"),
        (np.array(0), r"got \(\)"),
        ([0], r"got \(1,\)"),
    ],
)
def test_wrong_action_shape_raises(name, actions, pattern):
    env = _all_envs()[name]
    env.reset()
    with pytest.raises(EnvError, match=pattern):
        env.step(actions)


@pytest.mark.parametrize("name", ["bandit", "contextual", "darkroom"])
@pytest.mark.parametrize(
    "actions",
    [np.array([0.0, 1.0]), np.array([0.5, 1.0], dtype=np.float32), np.array([True, False])],
)
def test_non_integer_actions_raise(name, actions):
    env = _all_envs()[name]
    env.reset()
    with pytest.raises(EnvError, match=f"integer.*{actions.dtype}"):
        env.step(actions)


def test_task_set_validation():
    with pytest.raises(EnvError, match=r"num_actions must lie in \[1, 2\]"):
        TaskSet("bandit", [3], [[0, 1]], {"means": np.zeros((1, 2))})
    with pytest.raises(EnvError, match="'means' has 2 rows for 1 tasks"):
        TaskSet("bandit", [2], [[0, 1]], {"means": np.zeros((2, 2))})
    with pytest.raises(EnvError, match="expected 'darkroom'"):
        DarkRoom(TaskSet("bandit", [1], [[0]], {"goals": np.zeros(1, dtype=int)}))
    with pytest.raises(EnvError, match="unknown environment 'maze'.*bandit.*contextual.*darkroom"):
        make_env(TaskSet("maze", [1], [[0]]))


def test_task_set_subset_and_concatenate_keep_tasks_intact():
    env = _all_envs()["bandit"]
    tasks = env.tasks
    first = tasks.subset(slice(0, 1))
    assert first.action_sets.shape == (1, 3)  # trimmed to its own widest action set
    np.testing.assert_array_equal(first.params["means"], [[0.1, 0.2, 0.3]])
    back = TaskSet.concatenate([first, tasks.subset(slice(1, 2))])
    np.testing.assert_array_equal(back.action_sets, tasks.action_sets)
    np.testing.assert_array_equal(back.num_actions, tasks.num_actions)
    np.testing.assert_allclose(back.params["means"], tasks.params["means"])


# -- darkroom against a plain reference implementation ---------------------------------------
def reference_darkroom(goal: int, action_ids: list[int]):
    """One task, one action at a time, written out longhand: (obs, reward, done) per step."""
    deltas = {NOOP: (0, 0), UP: (-1, 0), RIGHT: (0, 1), DOWN: (1, 0), LEFT: (0, -1)}
    row, col, t, out = 4, 4, 0, []
    for action in action_ids:
        hit = False
        for m in (action // 25, (action // 5) % 5, action % 5):
            row = min(max(row + deltas[m][0], 0), 8)
            col = min(max(col + deltas[m][1], 0), 8)
            hit = hit or row * 9 + col == goal
        t += 1
        done = hit or t == MAX_STEPS
        if done:
            row, col, t = 4, 4, 0
        out.append((row * 9 + col, float(hit), done))
    return out


@settings(max_examples=30, deadline=None)
@given(
    goals=st.lists(st.integers(0, 80), min_size=1, max_size=4),
    data=st.data(),
)
def test_darkroom_matches_reference(goals, data):
    B = len(goals)
    sizes = [data.draw(st.integers(1, 6)) for _ in range(B)]
    action_sets = [
        data.draw(st.lists(st.integers(0, 124), min_size=n, max_size=n, unique=True)) for n in sizes
    ]
    steps = data.draw(st.integers(1, 45))
    local = [
        data.draw(st.lists(st.integers(0, n - 1), min_size=steps, max_size=steps)) for n in sizes
    ]
    env = darkroom([divmod(g, 9) for g in goals], action_sets)
    env.reset()
    got = []
    for t in range(steps):
        obs, reward, done, _ = env.step(np.array([local[b][t] for b in range(B)]))
        got.append(list(zip(obs.tolist(), reward.tolist(), done.tolist(), strict=True)))
    for b in range(B):
        expected = reference_darkroom(goals[b], [action_sets[b][i] for i in local[b]])
        assert [g[b] for g in got] == expected


# -- select: a subset of the tasks, each in its current state ---------------------------------
def _stepped(env, steps, seed=0):
    """``env`` reset and stepped ``steps`` times with random available actions (mid-episode)."""
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    for _ in range(steps):
        env.step((rng.random(env.num_envs) * env.num_actions).astype(np.int64))
    return env


def test_darkroom_select_steps_exactly_like_the_whole_batch():
    from icrl.suites import eval_suite

    tasks = TaskSet.concatenate([eval_suite("darkroom", s, 0, 12) for s in ("train_train", "all_test")])
    full = _stepped(make_env(tasks), 7)
    index = np.array([0, 3, 4, 11, 12, 20, 23])
    sub = full.select(index)
    assert sub is not full and sub.num_envs == len(index) and full.num_envs == len(tasks)
    assert sub.action_width == full.action_width  # per-task arrays keep their width
    np.testing.assert_array_equal(sub.num_actions, tasks.num_actions[index])
    np.testing.assert_array_equal(sub.tasks.params["goals"], tasks.params["goals"][index])
    np.testing.assert_array_equal(sub.agent_cell, full.agent_cell[index])
    rng = np.random.default_rng(1)
    ends = 0
    for _ in range(45):  # long enough for every task to end an episode and auto-reset
        actions = (rng.random(full.num_envs) * full.num_actions).astype(np.int64)
        obs, reward, done, info = full.step(actions)
        sub_obs, sub_reward, sub_done, sub_info = sub.step(actions[index])
        np.testing.assert_array_equal(sub_obs, obs[index])
        np.testing.assert_array_equal(sub_reward, reward[index])
        np.testing.assert_array_equal(sub_done, done[index])
        for key in ("success", "terminal", "final_obs"):
            np.testing.assert_array_equal(sub_info[key], info[key][index])
        ends += int(sub_done.sum())
    assert ends >= len(index)
    # selecting again from a selection, in another order, still follows the same tasks
    again = sub.select(np.array([5, 0, 2]))
    np.testing.assert_array_equal(again.goals, full.goals[index[[5, 0, 2]]])
    np.testing.assert_array_equal(again.agent_cell, full.agent_cell[index[[5, 0, 2]]])


def test_bandit_select_keeps_each_tasks_arms():
    env = _stepped(bandit([[0.1, 0.9], [0.5, 0.2, 0.7], [0.3], [0.0, 1.0, 0.4]]), 3)
    sub = env.select(np.array([1, 3]))
    np.testing.assert_array_equal(sub.num_actions, [3, 3])
    np.testing.assert_array_equal(sub.best, [0.7, 1.0])
    _, reward, done, info = sub.step(np.array([2, 1]))
    np.testing.assert_allclose(info["regret"], [0.0, 0.0])
    assert done.all() and reward[1] == 1.0  # means 1.0: always pays
    _, _, _, info = sub.step(np.array([1, 0]))
    np.testing.assert_allclose(info["regret"], [0.5, 1.0])


def test_contextual_select_keeps_the_current_contexts():
    rng = np.random.default_rng(0)
    env = _stepped(contextual(rng.standard_normal((6, 4, 2))), 2)
    index = np.array([4, 1])
    obs = env._obs.copy()
    sub = env.select(index)
    np.testing.assert_array_equal(sub._obs, obs[index])
    actions = np.array([0, 3, 1, 2, 0, 1])
    # the regret depends on the current context and the task's arms only: the same in both
    _, _, _, info = env.step(actions)
    _, _, _, sub_info = sub.step(actions[index])
    np.testing.assert_allclose(sub_info["regret"], info["regret"][index])


def test_select_leaves_the_original_environment_whole():
    env = _stepped(darkroom([(0, 0), (8, 8), (2, 3)], [[1, 2, 3], [1, 2, 3, 4, 5], [7]]), 2)
    before = env.agent_cell.copy()
    sub = env.select(np.array([2]))
    sub.step(np.array([0]))
    sub.reset()
    assert env.num_envs == 3 and env.tasks.num_actions.tolist() == [3, 5, 1]
    np.testing.assert_array_equal(env.agent_cell, before)
    env.step(np.array([0, 0, 0]))  # still works on all three tasks


def test_select_rejects_bad_indices_and_unsupported_envs():
    env = _stepped(bandit([[0.1, 0.9], [0.5, 0.2]]), 1)
    for bad in (np.array([], dtype=np.int64), np.array([True, False]), np.array([[0]]), np.array([0.0])):
        with pytest.raises(EnvError):
            env.select(bad)
    with pytest.raises(IndexError):
        env.select(np.array([2]))

    class NoSelect(BernoulliBandit):
        supports_select = False

    plain = NoSelect(env.tasks)
    with pytest.raises(NotImplementedError, match="supports_select"):
        plain.select(np.array([0]))
