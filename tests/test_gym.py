"""Gymnasium adapters: API conformance, registration and single-task semantics."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

import icrl
from icrl.envs import DarkRoom, EnvError
from icrl.envs.darkroom import MAX_STEPS, NUM_COMPOUND_ACTIONS, cell
from icrl.envs.gym import (
    GYM_ENVS,
    BernoulliBanditEnv,
    ContextualBanditEnv,
    DarkRoomEnv,
    register_envs,
)

IDS = ["icrl/BernoulliBandit-v0", "icrl/ContextualBandit-v0", "icrl/DarkRoom-v0", "icrl/KeyDoor-v0"]
NOOP, UP, RIGHT, DOWN, LEFT = range(5)


def compound(m0: int, m1: int, m2: int) -> int:
    return 25 * m0 + 5 * m1 + m2


@pytest.fixture
def strict_warnings():
    """Gymnasium reports API problems as warnings: make them errors.

    The one expected warning is the contextual bandit's unbounded Box: contexts are Gaussian.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings(
            "ignore", message=".*Box observation space (minimum|maximum) value is"
        )
        yield


# -- registration and the checker ---------------------------------------------------------------
def test_ids_are_registered_on_import():
    assert icrl.__version__
    for env_id in IDS:
        assert env_id in gym.registry
    assert sorted(GYM_ENVS) == sorted(IDS)


def test_registration_twice_is_harmless(strict_warnings):
    register_envs()
    register_envs()
    assert all(env_id in gym.registry for env_id in IDS)


@pytest.mark.parametrize("env_id", IDS)
def test_check_env_passes_on_made_env(env_id, strict_warnings):
    env = gym.make(env_id)
    check_env(env.unwrapped)
    env.close()


@pytest.mark.parametrize("cls", [BernoulliBanditEnv, ContextualBanditEnv, DarkRoomEnv])
def test_check_env_passes_on_direct_construction(cls, strict_warnings):
    check_env(cls(seed=1), skip_render_check=True)  # no spec, so no render-mode check


@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        ("icrl/BernoulliBandit-v0", {"means": [0.2, 0.9, 0.4]}),
        ("icrl/ContextualBandit-v0", {"num_arms": 7, "seed": 3}),
        ("icrl/DarkRoom-v0", {"goal": (2, 6), "action_set": [0, 31, 62, 124]}),
    ],
)
def test_make_with_kwargs(env_id, kwargs, strict_warnings):
    env = gym.make(env_id, **kwargs)
    obs, info = env.reset(seed=0)
    assert obs in env.observation_space and isinstance(info, dict)
    n = env.action_space.n
    assert (
        n
        == {"icrl/BernoulliBandit-v0": 3, "icrl/ContextualBandit-v0": 7, "icrl/DarkRoom-v0": 4}[
            env_id
        ]
    )
    obs, reward, terminated, truncated, info = env.step(n - 1)
    assert obs in env.observation_space and isinstance(reward, float)
    env.close()


def test_make_with_module_prefix():
    env = gym.make("icrl:icrl/DarkRoom-v0", goal=0)
    assert env.unwrapped.goal == 0


def test_vector_env_resets_finished_darkroom_episodes():
    envs = gym.make_vec(
        "icrl/DarkRoom-v0",
        num_envs=2,
        vectorization_mode="sync",
        goal=(3, 4),
        action_set=[compound(UP, NOOP, NOOP), compound(DOWN, NOOP, NOOP)],
    )
    obs, _ = envs.reset(seed=0)
    assert obs.tolist() == [cell(4, 4)] * 2
    obs, reward, terminated, truncated, _ = envs.step(np.array([0, 1]))
    assert terminated.tolist() == [True, False] and reward.tolist() == [1.0, 0.0]
    assert obs.tolist() == [cell(3, 4), cell(5, 4)]
    obs, reward, terminated, _, _ = envs.step(np.array([0, 0]))  # env 0 is reset (next-step mode)
    assert obs.tolist() == [cell(4, 4), cell(4, 4)] and terminated.tolist() == [False, False]
    envs.close()


# -- bandits ------------------------------------------------------------------------------------
def test_bandit_spaces_and_endless_episode():
    env = BernoulliBanditEnv(means=[0.1, 0.8])
    assert env.action_space == gym.spaces.Discrete(2)
    assert env.observation_space == gym.spaces.Discrete(1)
    assert env.reset(seed=0) == (0, {})
    for _ in range(500):
        obs, reward, terminated, truncated, info = env.step(1)
        assert (obs, terminated, truncated) == (0, False, False)
        assert reward in (0.0, 1.0)
        assert info["regret"] == 0.0
    assert env.step(0)[4]["regret"] == pytest.approx(0.7)


def test_bandit_time_limit_from_make():
    env = gym.make("icrl/BernoulliBandit-v0", num_arms=4, seed=0, max_episode_steps=300)
    env.reset(seed=0)
    truncated = [env.step(0)[3] for _ in range(300)]
    assert truncated == [False] * 299 + [True]


def test_bandit_reward_frequency_and_regret():
    means = [0.15, 0.55, 0.35]
    env = BernoulliBanditEnv(means=means)
    env.reset(seed=4)
    for arm, mu in enumerate(means):
        steps = [env.step(arm) for _ in range(4000)]
        assert np.mean([s[1] for s in steps]) == pytest.approx(mu, abs=0.03)
        np.testing.assert_allclose([s[4]["regret"] for s in steps], 0.55 - mu)


def test_bandit_num_arms_and_seed_draw_means():
    a = BernoulliBanditEnv(num_arms=12, seed=5)
    assert a.action_space.n == 12 and a.means.shape == (12,)
    assert ((a.means >= 0) & (a.means <= 1)).all()
    np.testing.assert_array_equal(a.means, BernoulliBanditEnv(num_arms=12, seed=5).means)
    assert not np.array_equal(a.means, BernoulliBanditEnv(num_arms=12, seed=6).means)
    np.testing.assert_array_equal(BernoulliBanditEnv(means=[0.25, 0.5]).means, [0.25, 0.5])


def test_contextual_spaces_and_regret():
    features = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    env = ContextualBanditEnv(arm_features=features)
    assert env.action_space == gym.spaces.Discrete(3)
    assert env.observation_space.shape == (2,) and env.observation_space.dtype == np.float32
    obs, _ = env.reset(seed=0)
    for t in range(200):
        assert obs.shape == (2,) and obs.dtype == np.float32
        values = features @ obs.astype(np.float64)
        action = int(values.argmax()) if t % 2 else t % 3
        obs, reward, terminated, truncated, info = env.step(action)
        assert not terminated and not truncated
        assert info["regret"] == pytest.approx(values.max() - values[action], abs=1e-5)
        if t % 2:
            assert info["regret"] == pytest.approx(0.0, abs=1e-6)


def test_contextual_num_arms_and_seed_draw_features():
    env = ContextualBanditEnv(num_arms=6, seed=2)
    assert env.action_space.n == 6 and env.arm_features.shape == (6, 2)
    np.testing.assert_array_equal(
        env.arm_features, ContextualBanditEnv(num_arms=6, seed=2).arm_features
    )


@pytest.mark.parametrize("cls", [BernoulliBanditEnv, ContextualBanditEnv])
def test_reset_seed_makes_runs_reproducible(cls):
    def run(seed):
        env = cls(num_arms=5, seed=0)
        first, _ = env.reset(seed=seed)
        steps = [env.step(t % 5) for t in range(50)]
        return [np.asarray(first).tolist()] + [(np.asarray(s[0]).tolist(), s[1]) for s in steps]

    assert run(11) == run(11)
    assert run(11) != run(12)


# -- darkroom -----------------------------------------------------------------------------------
def test_darkroom_defaults():
    env = DarkRoomEnv(goal=(1, 2))
    assert env.goal == cell(1, 2) and env.max_episode_steps == MAX_STEPS
    assert env.action_space == gym.spaces.Discrete(NUM_COMPOUND_ACTIONS)
    assert env.observation_space == gym.spaces.Discrete(81)
    np.testing.assert_array_equal(env.action_set, np.arange(NUM_COMPOUND_ACTIONS))
    assert DarkRoomEnv(goal=17).goal == 17
    assert DarkRoomEnv(seed=3).goal == DarkRoomEnv(seed=3).goal


def test_darkroom_goal_terminates_with_real_final_observation():
    env = DarkRoomEnv(
        goal=(3, 4), action_set=[compound(NOOP, NOOP, NOOP), compound(UP, DOWN, DOWN)]
    )
    assert env.reset(seed=0)[0] == cell(4, 4)
    assert env.step(0)[:4] == (cell(4, 4), 0.0, False, False)
    obs, reward, terminated, truncated, info = env.step(1)  # through the goal, then away
    assert (obs, reward, terminated, truncated) == (cell(5, 4), 1.0, True, False)
    assert info == {"success": True}
    with pytest.raises(EnvError, match=r"reset\(\)"):
        env.step(0)  # no hidden auto-reset
    assert env.reset()[0] == cell(4, 4)
    assert env.step(0)[0] == cell(4, 4)


def test_darkroom_truncates_after_max_steps():
    env = DarkRoomEnv(goal=(8, 8), action_set=[compound(UP, UP, UP)])
    env.reset(seed=0)
    for _ in range(MAX_STEPS - 1):
        obs, reward, terminated, truncated, info = env.step(0)
        assert not terminated and not truncated
    obs, reward, terminated, truncated, info = env.step(0)
    assert (obs, reward, terminated, truncated, info) == (
        cell(0, 4),
        0.0,
        False,
        True,
        {"success": False},
    )


def test_darkroom_goal_on_last_step_terminates_not_truncates():
    env = DarkRoomEnv(
        goal=(4, 5), action_set=[compound(NOOP, NOOP, NOOP), compound(RIGHT, NOOP, NOOP)]
    )
    env.reset(seed=0)
    for _ in range(MAX_STEPS - 1):
        env.step(0)
    _, reward, terminated, truncated, _ = env.step(1)
    assert (reward, terminated, truncated) == (1.0, True, False)


def test_darkroom_action_index_maps_to_action_set():
    env = DarkRoomEnv(
        goal=(8, 8), action_set=[compound(LEFT, LEFT, NOOP), compound(DOWN, RIGHT, RIGHT)]
    )
    env.reset(seed=0)
    assert env.step(1)[0] == cell(5, 6)
    assert env.step(0)[0] == cell(5, 4)


# -- bad input ----------------------------------------------------------------------------------
ALL = [
    lambda: BernoulliBanditEnv(means=[0.1, 0.2, 0.3]),
    lambda: ContextualBanditEnv(num_arms=3, seed=0),
    lambda: DarkRoomEnv(goal=0, action_set=[1, 2, 3]),
]


@pytest.mark.parametrize("make", ALL)
def test_step_before_reset_raises(make):
    with pytest.raises(EnvError, match=r"reset\(\)"):
        make().step(0)


@pytest.mark.parametrize("make", ALL)
@pytest.mark.parametrize(
    "action, pattern",
    [
        (3, r"action 3 is not available; this task has 3 actions \(allowed 0\.\.2\)"),
        (-1, r"action -1 is not available"),
        (np.int64(10), r"action 10 is not available"),
        (1.0, r"got 1\.0 of type float"),
        (np.float32(2), r"got np\.float32\(2\.0\)|got 2\.0"),
        (True, r"got True of type bool"),
        ("1", r"got '1' of type str"),
        (np.array([1]), r"got array\(\[1\]\) of shape \(1,\)"),
        ([0, 1], r"got \[0, 1\] of shape \(2,\)"),
    ],
)
def test_bad_actions_raise(make, action, pattern):
    env = make()
    env.reset(seed=0)
    with pytest.raises(EnvError, match=pattern):
        env.step(action)
    env.step(np.int64(2))  # numpy integer scalars are fine
    env.step(np.array(1))  # so are 0-d integer arrays


def test_reset_rejects_options():
    env = DarkRoomEnv(goal=0)
    with pytest.raises(EnvError, match="goal"):
        env.reset(options={"goal": 3})
    env.reset(options={})
    env.reset(options=None)


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: BernoulliBanditEnv(means=[0.5, 1.5]), r"\[0, 1\], got \[0\.5, 1\.5\]"),
        (lambda: BernoulliBanditEnv(means=[]), r"non-empty"),
        (lambda: BernoulliBanditEnv(means=[0.5], num_arms=1), r"not both"),
        (lambda: BernoulliBanditEnv(num_arms=0), r"num_arms must be an integer >= 1, got 0"),
        (
            lambda: ContextualBanditEnv(arm_features=np.zeros((3, 3))),
            r"\(num_arms, 2\), got \(3, 3\)",
        ),
        (lambda: ContextualBanditEnv(num_arms=2.5), r"got 2\.5"),
        (lambda: DarkRoomEnv(goal=81), r"got 81"),
        (lambda: DarkRoomEnv(goal=(9, 0)), r"got \(9, 0\)"),
        (lambda: DarkRoomEnv(goal=0, action_set=[0, 125, -2]), r"got \[125, -2\]"),
        (lambda: DarkRoomEnv(goal=0, action_set=[3, 3]), r"distinct, got \[3, 3\]"),
        (lambda: DarkRoomEnv(goal=0, action_set=[]), r"non-empty"),
        (lambda: BernoulliBanditEnv(render_mode="human"), r"'human'"),
    ],
)
def test_bad_constructor_arguments_raise(make, pattern):
    with pytest.raises(EnvError, match=pattern):
        make()


@settings(max_examples=25, deadline=None)
@given(goal=st.integers(0, 80), data=st.data())
def test_darkroom_episodes_match_the_batched_env(goal, data):
    """The adapter plays the batched env's episodes, returning final observations, never resets."""
    action_set = data.draw(st.lists(st.integers(0, 124), min_size=1, max_size=8, unique=True))
    actions = data.draw(st.lists(st.integers(0, len(action_set) - 1), min_size=1, max_size=50))
    env = DarkRoomEnv(goal=goal, action_set=action_set)
    batched = DarkRoom(env.tasks)
    env.reset(seed=0)
    batched.reset()
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        _, b_reward, b_done, b_info = batched.step(np.array([a]))
        assert obs == int(b_info["final_obs"][0]) and reward == float(b_reward[0])
        assert terminated == bool(b_info["success"][0])
        assert (terminated or truncated) == bool(b_done[0]) and not (terminated and truncated)
        if terminated or truncated:
            assert env.reset()[0] == cell(4, 4)
