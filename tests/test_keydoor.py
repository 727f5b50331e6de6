"""Dark Key-to-Door: dynamics, auto-reset, select, ExploreReplay's phases and the Gymnasium adapter."""

from __future__ import annotations

import copy
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import icrl  # noqa: F401  (registers the Gymnasium ids)
from icrl.envs import DarkRoom, EnvError, TaskSet
from icrl.envs.base import TaskStreams
from icrl.envs.darkroom import NUM_COMPOUND_ACTIONS, cell
from icrl.envs.gym import GYM_ENVS, KeyDoorEnv
from icrl.envs.keydoor import MAX_STEPS, KeyDoor, random_start_cells, visited_cells
from icrl.rollout import rollout
from icrl.teachers import ExploreReplay
from icrl.teachers.base import Policy, epsilon_mix, random_actions, uniform_probs

NOOP, UP, RIGHT, DOWN, LEFT = range(5)


def compound(m0: int, m1: int = NOOP, m2: int = NOOP) -> int:
    return 25 * m0 + 5 * m1 + m2


STAY = compound(NOOP, NOOP, NOOP)


def keydoor(keys, doors, action_sets, seed=0) -> KeyDoor:
    """One task per (key, door) pair ((row, col) each) with the given per-task action ids."""
    width = max(len(a) for a in action_sets)
    padded = np.full((len(action_sets), width), -1)
    for b, ids in enumerate(action_sets):
        padded[b, : len(ids)] = ids
    params = {"keys": np.array([cell(*k) for k in keys]), "doors": np.array([cell(*d) for d in doors])}
    return KeyDoor(TaskSet("keydoor", [len(a) for a in action_sets], padded, params), seed)


def place(env: KeyDoor, cells) -> None:
    """Put the agents on ``cells`` ((row, col) each), as if their episodes had started there."""
    env.agent_cell = np.array([cell(*c) for c in cells], dtype=np.int64)
    env._obs = env.agent_cell.copy()


def random_tasks(num_tasks: int, num_actions: int, seed: int, ragged: bool = False) -> TaskSet:
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 81, size=num_tasks)
    doors = (keys + rng.integers(1, 81, size=num_tasks)) % 81
    counts = rng.integers(1, num_actions + 1, size=num_tasks) if ragged else np.full(num_tasks, num_actions)
    sets = np.full((num_tasks, num_actions), -1)
    for b in range(num_tasks):
        sets[b, : counts[b]] = rng.permutation(NUM_COMPOUND_ACTIONS)[: counts[b]]
    return TaskSet("keydoor", counts, sets, {"keys": keys, "doors": doors})


# -- dynamics -----------------------------------------------------------------------------------
def test_class_attributes_and_visited_table():
    assert (KeyDoor.name, KeyDoor.obs_kind, KeyDoor.obs_dim) == ("keydoor", "discrete", 81)
    assert KeyDoor.max_episode_steps == MAX_STEPS == 50 and KeyDoor.supports_select
    assert KeyDoor.reward_phases == 2
    table = visited_cells()
    assert table.shape == (81, NUM_COMPOUND_ACTIONS, 3) and not table.flags.writeable
    assert visited_cells() is table  # cached
    assert table[cell(4, 4), compound(UP, RIGHT, RIGHT)].tolist() == [cell(3, 4), cell(3, 5), cell(3, 6)]


def test_key_then_door_pays_one_then_one_and_ends():
    env = keydoor([(4, 2)], [(4, 6)], [[STAY, compound(LEFT, LEFT), compound(RIGHT, RIGHT, RIGHT)]])
    env.reset()
    place(env, [(4, 4)])
    obs, reward, done, info = env.step(np.array([1]))  # onto the key
    assert (obs.tolist(), reward.tolist(), done.tolist()) == ([cell(4, 2)], [1.0], [False])
    assert not info["success"][0] and env.has_key[0]
    obs, reward, done, info = env.step(np.array([2]))  # (4, 5): not yet
    assert (obs.tolist(), reward.tolist(), done.tolist()) == ([cell(4, 5)], [0.0], [False])
    obs, reward, done, info = env.step(np.array([2]))  # through the door (4, 6), on to (4, 8)
    assert (reward.tolist(), done.tolist()) == ([1.0], [True])
    assert info["success"].tolist() == info["terminal"].tolist() == [True]
    assert info["final_obs"].tolist() == [cell(4, 8)]
    assert obs[0] not in (cell(4, 2), cell(4, 6)) and not env.has_key[0] and env.t[0] == 0
    assert reward.dtype == np.float32 and done.dtype == bool


def test_door_before_key_pays_nothing_and_goes_on():
    env = keydoor([(4, 2)], [(4, 6)], [[STAY, compound(RIGHT, RIGHT), compound(LEFT, LEFT, LEFT)]])
    env.reset()
    place(env, [(4, 4)])
    obs, reward, done, info = env.step(np.array([1]))  # onto the door without the key
    assert (obs.tolist(), reward.tolist(), done.tolist(), info["success"].tolist()) == (
        [cell(4, 6)], [0.0], [False], [False])
    obs, reward, done, _ = env.step(np.array([0]))  # standing on it changes nothing
    assert (obs.tolist(), reward.tolist(), done.tolist()) == ([cell(4, 6)], [0.0], [False])
    env.step(np.array([2]))  # (4, 3)
    obs, reward, done, _ = env.step(np.array([2]))  # through the key at (4, 2)
    assert (obs.tolist(), reward.tolist(), done.tolist()) == ([cell(4, 0)], [1.0], [False])
    obs, reward, done, _ = env.step(np.array([2]))  # walls clip: the key pays once per episode
    assert (obs.tolist(), reward.tolist(), done.tolist()) == ([cell(4, 0)], [0.0], [False])
    env.step(np.array([1]))  # (4, 2) again: no second key reward
    _, reward, done, info = env.step(np.array([1]))  # (4, 4)
    assert (reward.tolist(), done.tolist()) == ([0.0], [False])
    _, reward, done, info = env.step(np.array([1]))  # the door, key in hand
    assert (reward.tolist(), done.tolist(), info["success"].tolist()) == ([1.0], [True], [True])


@pytest.mark.parametrize(
    "key, door, start, moves, end",
    [
        ((4, 2), (4, 4), (4, 3), (LEFT, RIGHT, RIGHT), (4, 4)),  # key on move 1, door on move 3
        ((4, 2), (4, 3), (4, 1), (RIGHT, RIGHT, RIGHT), (4, 4)),  # key 1, door 2, then on
        ((3, 2), (4, 2), (3, 3), (LEFT, DOWN, UP), (3, 2)),  # key 1, door 2, back over the key
        ((0, 0), (0, 1), (1, 0), (UP, LEFT, RIGHT), (0, 1)),  # key 1, clipped on it 2, door 3
    ],
)
def test_key_then_door_in_one_action_pays_two_and_ends(key, door, start, moves, end):
    env = keydoor([key], [door], [[compound(*moves)]])
    env.reset()
    place(env, [start])
    _, reward, done, info = env.step(np.array([0]))
    assert (reward.tolist(), done.tolist(), info["success"].tolist()) == ([2.0], [True], [True])
    assert info["final_obs"].tolist() == [cell(*end)]


def test_door_then_key_in_one_action_pays_only_the_key():
    env = keydoor([(4, 2)], [(4, 3)], [[compound(LEFT, LEFT, NOOP), compound(RIGHT, NOOP, NOOP)]])
    env.reset()
    place(env, [(4, 4)])
    obs, reward, done, info = env.step(np.array([0]))  # door (4, 3) then key (4, 2)
    assert (obs.tolist(), reward.tolist(), done.tolist(), info["success"].tolist()) == (
        [cell(4, 2)], [1.0], [False], [False])
    _, reward, done, info = env.step(np.array([1]))  # back onto the door with the key
    assert (reward.tolist(), done.tolist(), info["success"].tolist()) == ([1.0], [True], [True])


def test_walls_clip_moves():
    ids = [compound(UP, LEFT, UP), compound(RIGHT, RIGHT, RIGHT), compound(DOWN, DOWN, DOWN)]
    env = keydoor([(8, 0)] * 3, [(8, 8)] * 3, [ids] * 3)
    env.reset()
    place(env, [(0, 0), (2, 7), (7, 3)])
    obs, reward, done, _ = env.step(np.array([0, 1, 2]))
    assert obs.tolist() == [cell(0, 0), cell(2, 8), cell(8, 3)]
    assert reward.tolist() == [0, 0, 0] and not done.any()
    assert visited_cells()[cell(2, 7), ids[1]].tolist() == [cell(2, 8)] * 3


def test_start_cells_avoid_key_and_door_and_are_uniform():
    keys = np.array([0, 80, 40, 41, 7])
    doors = np.array([80, 0, 41, 40, 6])
    rng = np.random.default_rng(0)
    starts = np.stack([random_start_cells(keys, doors, rng) for _ in range(4000)])  # (4000, 5)
    assert ((starts != keys) & (starts != doors)).all() and starts.min() >= 0 and starts.max() <= 80
    for b in range(len(keys)):
        counts = np.bincount(starts[:, b], minlength=81)
        assert (counts > 0).sum() == 79  # every other cell is drawn
        assert counts.max() < 3 * 4000 / 79
    # through reset and auto-reset too
    env = KeyDoor(random_tasks(40, 5, seed=1), seed=2)
    first = env.reset()
    for _ in range(6 * MAX_STEPS):
        obs, _, done, _ = env.step(np.zeros(40, dtype=np.int64))
        assert ((obs[done] != env.keys[done]) & (obs[done] != env.doors[done])).all()
    assert env.t.max() < MAX_STEPS
    assert ((first != env.keys) & (first != env.doors)).all()


def test_reset_seed_reproduces_starts():
    tasks = random_tasks(30, 4, seed=3)
    env = KeyDoor(tasks)
    a, b = env.reset(seed=5), env.reset(seed=5)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, KeyDoor(tasks, seed=5).reset())
    assert not np.array_equal(a, env.reset(seed=6))


def test_time_limit_auto_resets_and_forgets_the_key():
    env = keydoor([(4, 5), (0, 0)], [(8, 8), (8, 7)], [[STAY, compound(RIGHT)], [STAY]])
    env.reset(seed=0)
    place(env, [(4, 4), (4, 4)])
    rewards, dones = [], []
    for t in range(MAX_STEPS):
        obs, reward, done, info = env.step(np.array([1 if t == 0 else 0, 0]))
        rewards.append(reward.tolist())
        dones.append(done.tolist())
        if t < MAX_STEPS - 1:
            assert obs.tolist() == [cell(4, 5), cell(4, 4)] and env.t.tolist() == [t + 1] * 2
    assert rewards[0] == [1.0, 0.0] and sum(map(sum, rewards)) == 1.0
    assert dones == [[False, False]] * (MAX_STEPS - 1) + [[True, True]]
    assert info["success"].tolist() == [False, False] and info["final_obs"].tolist() == [cell(4, 5), cell(4, 4)]
    assert env.t.tolist() == [0, 0] and not env.has_key.any()
    assert ((obs != env.keys) & (obs != env.doors)).all()  # the next episode's first observations


def test_observation_never_shows_the_key():
    """Two tasks on the same walk, one of them picking up the key on the way: the same cells."""
    ids = [compound(RIGHT, RIGHT), compound(LEFT, LEFT), compound(UP), compound(DOWN)]
    # Columns stay even (from 4, by twos, walls clip at 0 and 8): the doors and the second
    # task's key, on odd columns, are never reached.
    env = keydoor([(4, 6), (0, 1)], [(8, 7), (8, 7)], [ids, ids])
    env.reset()
    place(env, [(4, 4), (4, 4)])
    rng = np.random.default_rng(0)
    held = []
    for t in range(MAX_STEPS - 1):
        a = 0 if t == 0 else rng.integers(4)  # first onto the first task's key
        obs, reward, done, info = env.step(np.array([a, a]))
        assert obs[0] == obs[1] and not done.any()
        assert info["final_obs"][0] == info["final_obs"][1]
        held.append(env.has_key.tolist())
    assert held[0] == [True, False]  # the first task holds the key, unseen


def test_select_steps_like_the_whole_batch():
    """Everything but where a new episode starts (a draw from the shared generator, whose order
    depends on which tasks end together) is exactly the whole batch's; the starts are re-synced."""
    tasks = random_tasks(24, 12, seed=4, ragged=True)
    full = KeyDoor(tasks, seed=0)
    full.reset()
    rng = np.random.default_rng(1)
    for _ in range(9):
        full.step((rng.random(24) * full.num_actions).astype(np.int64))
    index = np.array([0, 3, 4, 11, 12, 20, 23, 5])
    sub = full.select(index)
    assert sub is not full and sub.num_envs == len(index) and full.num_envs == 24
    for name in ("keys", "doors", "agent_cell", "has_key", "t"):
        np.testing.assert_array_equal(getattr(sub, name), getattr(full, name)[index], err_msg=name)
    ends = 0
    for _ in range(150):
        actions = (rng.random(24) * full.num_actions).astype(np.int64)
        obs, reward, done, info = full.step(actions)
        sub_obs, sub_reward, sub_done, sub_info = sub.step(actions[index])
        np.testing.assert_array_equal(sub_reward, reward[index])
        np.testing.assert_array_equal(sub_done, done[index])
        for key in ("success", "terminal", "final_obs"):
            np.testing.assert_array_equal(sub_info[key], info[key][index])
        np.testing.assert_array_equal(sub_obs[~sub_done], obs[index][~sub_done])
        np.testing.assert_array_equal(sub.has_key, full.has_key[index])
        np.testing.assert_array_equal(sub.t, full.t[index])
        sub.agent_cell[sub_done] = full.agent_cell[index][sub_done]
        ends += int(sub_done.sum())
    assert ends >= 2 * len(index)
    again = sub.select(np.array([5, 0, 2]))
    np.testing.assert_array_equal(again.keys, full.keys[index[[5, 0, 2]]])
    np.testing.assert_array_equal(again._action_ids, full._action_ids[index[[5, 0, 2]]])


def test_select_with_task_streams_is_exact():
    """With one random stream per task, even the new episodes' starts are the whole batch's."""
    tasks = random_tasks(16, 6, seed=7, ragged=True)
    full, other = KeyDoor(tasks), KeyDoor(tasks)
    full.reset(seed=TaskStreams.from_seeds(range(16)))
    other.reset(seed=TaskStreams.from_seeds(range(16)))  # select shares streams: use a twin's
    index = np.array([1, 4, 9, 15])
    sub = other.select(index)
    rng = np.random.default_rng(2)
    ends = 0
    for _ in range(120):
        actions = (rng.random(16) * full.num_actions).astype(np.int64)
        obs, reward, done, info = full.step(actions)
        sub_obs, sub_reward, sub_done, sub_info = sub.step(actions[index])
        np.testing.assert_array_equal(sub_obs, obs[index])
        np.testing.assert_array_equal(sub_reward, reward[index])
        np.testing.assert_array_equal(sub_info["final_obs"], info["final_obs"][index])
        ends += int(sub_done.sum())
    assert ends >= len(index)


@pytest.mark.parametrize(
    "params, action_sets, pattern",
    [
        ({"keys": [81], "doors": [0]}, [[0]], r"keys must be cells in \[0, 80\], got 81"),
        ({"keys": [3], "doors": [-1]}, [[0]], r"doors must be cells in \[0, 80\], got -1"),
        ({"keys": [5, 7], "doors": [6, 7]}, [[0], [0]], r"task 1: key and door .* both are 7"),
        ({"keys": [1], "doors": [2]}, [[0, 125]], r"\[0, 124\], got 125"),
        ({"keys": [1], "doors": [2]}, [[-3, 4]], r"\[0, 124\], got -3"),
        ({"keys": [1.5], "doors": [2]}, [[0]], r"keys must be 1 integer cells"),
        ({"keys": [1]}, [[0]], r"'doors'"),
    ],
)
def test_bad_params_raise(params, action_sets, pattern):
    sets = np.array(action_sets)
    tasks = TaskSet("keydoor", [sets.shape[1]] * len(sets), sets, {k: np.array(v) for k, v in params.items()})
    with pytest.raises(EnvError, match=pattern):
        KeyDoor(tasks)


def test_padding_is_not_an_action_id():
    tasks = TaskSet("keydoor", [1, 2], [[compound(UP), -1], [compound(DOWN), compound(UP)]],
                    {"keys": np.array([0, 1]), "doors": np.array([2, 3])})
    env = KeyDoor(tasks)
    env.reset()
    with pytest.raises(EnvError, match="action 1 is not available in task 0"):
        env.step(np.array([1, 1]))


# -- ExploreReplay ------------------------------------------------------------------------------
def test_explore_replay_tells_the_two_crossings_of_a_cell_apart():
    """(4, 3) and (4, 4) are crossed left on the way to the key and right on the way to the door."""
    env = keydoor([(4, 2)], [(4, 6)], [[STAY, compound(LEFT), compound(RIGHT)]])
    policy = ExploreReplay()
    obs = env.reset(seed=0)
    policy.reset(env, np.random.default_rng(0))
    place(env, [(4, 4)])
    obs = env._obs.copy()
    script = [1, 1, 2, 2, 2, 2]  # left, left (key), right x4 (door)
    for a in script:
        next_obs, reward, done, info = env.step(np.array([a]))
        policy.observe(obs, np.array([a]), reward, done, next_obs, info)
        obs = next_obs
    assert done[0] and info["success"][0] and policy.found[0] and policy.phase[0] == 0
    assert policy.path.shape == (1, 2 * 81)
    assert policy.path[0, cell(4, 4)] == 1 and policy.path[0, 81 + cell(4, 4)] == 2
    place(env, [(4, 4)])
    obs = env._obs.copy()
    total = 0.0
    for t in range(len(script)):
        actions = policy.act(obs)
        assert actions[0] == script[t]
        next_obs, reward, done, info = env.step(actions)
        policy.observe(obs, actions, reward, done, next_obs, info)
        obs, total = next_obs, total + float(reward[0])
    assert done[0] and total == 2.0


@pytest.fixture(scope="module")
def keydoor_returns():
    """ExploreReplay's episode returns on 64 tasks, 60 episodes: all 125 actions and 50 of them."""
    return {num_actions: rollout(ExploreReplay(), KeyDoor(random_tasks(64, num_actions, seed=0)),
                                 episodes=60, seed=0).episode_returns()
            for num_actions in (125, 50)}


def test_explore_replay_learns_keydoor(keydoor_returns):
    # Measured (seed 0): 125 actions: episode 1 -> 0.64, episodes 51-60 -> 1.52 (1.50-1.52 over
    # seeds 0-2); 50 actions: 0.48 -> 1.37 (1.28-1.37). The path is fixed at the first success,
    # and an episode starting off it explores at random until it meets it, so not every later
    # episode succeeds.
    for num_actions, low in ((125, 1.35), (50, 1.15)):
        returns = keydoor_returns[num_actions]
        assert returns.shape == (64, 60) and not np.isnan(returns).any()
        assert set(np.unique(returns)) <= {0.0, 1.0, 2.0}
        assert returns[:, 0].mean() < 0.9, num_actions
        assert returns[:, -10:].mean() >= low, (num_actions, returns[:, -10:].mean())


def test_explore_replay_probs_match_its_actions_on_keydoor():
    tasks = random_tasks(16, 30, seed=2, ragged=True)
    for noise in (0.0, 0.3):
        plain = rollout(ExploreReplay(noise), KeyDoor(tasks), episodes=12, seed=1)
        probed = rollout(ExploreReplay(noise), KeyDoor(tasks), episodes=12, seed=1, record_probs=True)
        np.testing.assert_array_equal(plain.actions, probed.actions)
        probs = probed.probs.astype(np.float64)
        np.testing.assert_allclose(probs.sum(axis=2)[probed.valid], 1.0, atol=2e-3)
        chosen = np.take_along_axis(probs, probed.actions[..., None], axis=2)[..., 0]
        assert (chosen[probed.valid] > 0).all()
        if noise == 0.0:  # one-hot wherever it replays
            assert ((probs.max(axis=2) == 1) == (chosen == 1))[probed.valid].all()


def test_explore_replay_select_keeps_phases_and_tables():
    tasks = random_tasks(20, 40, seed=5)
    env = KeyDoor(tasks, seed=0)
    policy = ExploreReplay()
    obs = env.reset()
    policy.reset(env, np.random.default_rng(0))

    def step(obs):
        actions = policy.act(obs)
        next_obs, rewards, dones, info = env.step(actions)
        policy.observe(obs, actions, rewards, dones, next_obs, info)
        return actions, next_obs, rewards, dones, info

    for _ in range(150):
        obs = step(obs)[1]
    index = np.array([0, 2, 3, 11, 19])
    sub = copy.deepcopy(policy)
    sub.select(index)
    assert sub.num_envs == len(index)
    for _ in range(80):
        prev = obs
        actions, obs, rewards, dones, info = step(obs)
        sub.observe(prev[index], actions[index], rewards[index], dones[index], obs[index],
                    {k: v[index] for k, v in info.items()})
    assert policy.found.any() and policy.phase.any()
    for name in ("found", "phase", "path", "episode_last", "num_actions", "action_mask"):
        np.testing.assert_array_equal(getattr(sub, name), getattr(policy, name)[index], err_msg=name)
    known = sub._replay(obs[index])[0]
    np.testing.assert_array_equal(sub.act(obs[index])[known], policy.act(obs)[index][known])


class _OldExploreReplay(Policy):
    """ExploreReplay as it was before phases (cell -> action), kept to check the darkroom."""

    supports_select = True
    reports_probs = True

    def __init__(self, noise=0.0):
        self.noise = noise

    def reset(self, env, rng, horizon=None):
        super().reset(env, rng, horizon)
        self.found = np.zeros(env.num_envs, dtype=bool)
        self.path = np.full((env.num_envs, env.obs_dim), -1, dtype=np.int64)
        self.episode_last = np.full((env.num_envs, env.obs_dim), -1, dtype=np.int64)

    def select(self, index):
        self._select_common(index)
        self.found, self.path, self.episode_last = self.found[index], self.path[index], self.episode_last[index]

    def _replay(self, obs):
        replay = self.path[np.arange(self.num_envs), obs]
        return self.found & (replay >= 0), replay

    def act(self, obs):
        known, replay = self._replay(obs)
        explore = self.rng.random(self.num_envs) < self.noise
        rand = random_actions(self.num_actions, self.rng)
        return np.where(known & ~explore, replay, rand)

    def act_with_probs(self, obs):
        known, replay = self._replay(obs)
        greedy = np.zeros(self.action_mask.shape)
        greedy[np.arange(self.num_envs), np.maximum(replay, 0)] = 1.0
        probs = np.where(known[:, None], epsilon_mix(greedy, self.noise, self.action_mask), uniform_probs(self.action_mask))
        return self.act(obs), probs

    def observe(self, obs, actions, rewards, dones, next_obs, info):
        self.episode_last[np.arange(self.num_envs), obs] = actions
        success = np.asarray(info.get("success", (rewards > 0) & dones), dtype=bool)
        first = success & ~self.found
        if first.any():
            self.path[first] = self.episode_last[first]
            self.found |= first
        if dones.any():
            self.episode_last[dones] = -1


@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_explore_replay_darkroom_histories_are_unchanged(noise):
    rng = np.random.default_rng(5)
    counts = rng.integers(5, 126, size=48)
    sets = np.full((48, 125), -1)
    for b in range(48):
        sets[b, : counts[b]] = rng.permutation(125)[: counts[b]]
    tasks = TaskSet("darkroom", counts, sets, {"goals": rng.integers(0, 81, size=48)})
    new = rollout(ExploreReplay(noise), DarkRoom(tasks), episodes=30, seed=3, record_probs=True)
    old = rollout(_OldExploreReplay(noise), DarkRoom(tasks), episodes=30, seed=3, record_probs=True)
    assert new.actions.shape == old.actions.shape
    for name in ("observations", "actions", "rewards", "dones", "valid", "probs"):
        assert getattr(new, name).tobytes() == getattr(old, name).tobytes(), name


# -- Gymnasium adapter --------------------------------------------------------------------------
@pytest.fixture
def strict_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_gym_registered_and_passes_the_checker(strict_warnings):
    assert "icrl/KeyDoor-v0" in gym.registry and GYM_ENVS["icrl/KeyDoor-v0"] is KeyDoorEnv
    env = gym.make("icrl/KeyDoor-v0")
    check_env(env.unwrapped)
    env.close()
    check_env(KeyDoorEnv(seed=1), skip_render_check=True)


def test_gym_defaults_and_kwargs():
    env = KeyDoorEnv(key=(1, 2), door=17)
    assert (env.key, env.door, env.max_episode_steps) == (cell(1, 2), 17, MAX_STEPS)
    assert env.observation_space == gym.spaces.Discrete(81)
    assert env.action_space == gym.spaces.Discrete(NUM_COMPOUND_ACTIONS)
    np.testing.assert_array_equal(env.action_set, np.arange(NUM_COMPOUND_ACTIONS))
    a, b = KeyDoorEnv(seed=3), KeyDoorEnv(seed=3)
    assert (a.key, a.door) == (b.key, b.door) and a.key != a.door
    assert KeyDoorEnv(key=5, seed=0).door != 5 and KeyDoorEnv(door=5, seed=0).key != 5
    made = gym.make("icrl/KeyDoor-v0", key=0, door=1, action_set=[0, 31, 62, 124])
    assert made.action_space.n == 4
    obs, info = made.reset(seed=0)
    assert obs in made.observation_space and obs not in (0, 1) and info == {}


def test_gym_episode_key_door_and_no_hidden_reset():
    env = KeyDoorEnv(key=(4, 2), door=(4, 6), action_set=[STAY, compound(LEFT, LEFT, LEFT),
                                                           compound(RIGHT, RIGHT, RIGHT)])
    env.reset(seed=0)
    env.batched_env.agent_cell[:] = cell(4, 4)  # a known start
    assert env.step(1)[:4] == (cell(4, 1), 1.0, False, False)
    assert env.step(2)[:4] == (cell(4, 4), 0.0, False, False)
    obs, reward, terminated, truncated, info = env.step(2)
    assert (obs, reward, terminated, truncated, info) == (cell(4, 7), 1.0, True, False, {"success": True})
    with pytest.raises(EnvError, match=r"reset\(\)"):
        env.step(0)
    env.reset()
    for t in range(MAX_STEPS):
        obs, reward, terminated, truncated, info = env.step(0)
        assert terminated is False and truncated == (t == MAX_STEPS - 1)


def test_gym_episodes_match_the_batched_env():
    rng = np.random.default_rng(0)
    for seed in range(12):
        key, door = rng.choice(81, size=2, replace=False)
        action_set = rng.choice(125, size=int(rng.integers(1, 9)), replace=False)
        env = KeyDoorEnv(key=int(key), door=int(door), action_set=action_set.tolist())
        batched = KeyDoor(env.tasks, seed=seed)
        obs, _ = env.reset(seed=seed)
        assert obs == int(batched.reset()[0])
        for _ in range(MAX_STEPS):
            a = int(rng.integers(len(action_set)))
            obs, reward, terminated, truncated, _ = env.step(a)
            b_obs, b_reward, b_done, b_info = batched.step(np.array([a]))
            assert obs == int(b_info["final_obs"][0]) and reward == float(b_reward[0])
            assert terminated == bool(b_info["success"][0])
            assert (terminated or truncated) == bool(b_done[0]) and not (terminated and truncated)
            if b_done[0]:
                break
            assert obs == int(b_obs[0])


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: KeyDoorEnv(key=81, door=0), r"key must be .* got 81"),
        (lambda: KeyDoorEnv(key=0, door=(9, 0)), r"door must be .* got \(9, 0\)"),
        (lambda: KeyDoorEnv(key=(2, 3), door=21), r"different cells, both are 21"),
        (lambda: KeyDoorEnv(key=0, door=1, action_set=[0, 125, -2]), r"got \[125, -2\]"),
        (lambda: KeyDoorEnv(key=0, door=1, action_set=[3, 3]), r"distinct, got \[3, 3\]"),
        (lambda: KeyDoorEnv(key=0, door=1, action_set=[]), r"non-empty"),
        (lambda: KeyDoorEnv(render_mode="human"), r"'human'"),
    ],
)
def test_gym_bad_constructor_arguments_raise(make, pattern):
    with pytest.raises(EnvError, match=pattern):
        make()
