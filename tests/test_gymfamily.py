"""Bring your own task family: icrl.GymFamily, icrl.register, the vector-env recorder, presets."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import icrl
from icrl.config import list_presets, load_config
from icrl.data import load_histories
from icrl.data.generate import generate_dataset
from icrl.envs.gymfamily import TASK_PARAM, compound_digits
from icrl.family import FamilyError, unregister
from icrl.suites import ENV_SPECS, PRESETS, env_spec, eval_suite, train_tasks

LENGTH = 8
MOVES = (-2, -1, 0, 1, 2)


class Corridor(gym.Env):
    """Cells 0..7, start at 0, reward 1 (and the end) on reaching the task's goal; actions move -2..+2."""

    def __init__(self, goal: int, vector: bool = False):
        self.goal, self.vector = goal, vector
        self.action_space = spaces.Discrete(len(MOVES))
        self.observation_space = spaces.Box(0, 1, (LENGTH,), np.float32) if vector else spaces.Discrete(LENGTH)

    def _obs(self):
        return np.eye(LENGTH, dtype=np.float32)[self.pos] if self.vector else self.pos

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = 0
        return self._obs(), {}

    def step(self, action):
        self.pos = int(np.clip(self.pos + MOVES[int(action)], 0, LENGTH - 1))
        hit = self.pos == self.goal
        return self._obs(), float(hit), hit, False, {}


def sample_goals(rng, n, split):
    goals = (1, 3, 5, 7) if split == "train" else (2, 4, 6)
    return [{"goal": int(g)} for g in rng.choice(goals, size=n)]


def corridor(name="corridor", **kwargs) -> icrl.GymFamily:
    vector = kwargs.pop("vector", False)
    options = {"episodes": 30, "max_episode_steps": 10, **kwargs}
    return icrl.GymFamily(name, lambda task, seed: Corridor(task["goal"], vector), sample_goals, **options)


@pytest.fixture
def registered():
    """``registered(family)``: register a family for one test, forgotten afterwards."""
    names = []

    def add(family):
        icrl.register(family)
        names.append(family.name)
        return family

    yield add
    for name in names:
        unregister(name)


TINY = ["data.num_tasks=16", "data.batch_tasks=8", "eval.num_tasks=4", "eval.tune=false", "model.d_model=32",
        "model.num_heads=2", "model.seq_len=40", "train.batch_size=8", "train.checkpoint_every=1000",
        "train.compile=false", "model.num_layers=1"]


def test_register_builds_spec_suites_baselines_and_presets(registered):
    family = registered(corridor())
    spec = env_spec("corridor")
    assert spec.eval_suites == tuple(f"{a}_{t}" for a in ("train", "perm_train", "test", "all")
                                     for t in ("train", "test"))
    assert spec.baselines == ("random", "qlearning") and spec.paper_reference == "qlearning"
    assert spec.universe == 5 and spec.default_horizon.episodes == 30
    train, test = family.split["train_actions"], family.split["test_actions"]
    assert len(test) == 2 and len(train) == 3 and not set(train) & set(test)
    assert {"corridor", "corridor-cpu"} <= set(list_presets())
    cfg = load_config("corridor-cpu")
    assert cfg.env == "corridor" and cfg.data.teacher == "qlearning" and cfg.data.episodes == 30
    assert cfg.model.d_model == load_config("darkroom-cpu").model.d_model  # the darkroom-cpu recipe
    assert cfg.eval.tune and not load_config("corridor").eval.tune
    assert load_config("corridor").model.d_model == load_config("darkroom").model.d_model
    # eval suites: their action sets and pools
    for name in spec.eval_suites:
        tasks = eval_suite("corridor", name, seed=0, num_tasks=6)
        action_set, split = name.rsplit("_", 1)
        goals = {json.loads(t)["goal"] for t in tasks.params[TASK_PARAM]}
        assert goals <= ({1, 3, 5, 7} if split == "train" else {2, 4, 6})
        want = {"train": train, "perm_train": train, "test": test, "all": np.arange(5)}[action_set]
        for row in tasks.action_sets:
            assert sorted(row) == sorted(want)
    # registering the same family again is a no-op; another one under the name is refused
    icrl.register(family)
    with pytest.raises(FamilyError, match="already registered"):
        icrl.register(corridor())


def test_action_split_and_pools_are_seeded(registered):
    a, b = corridor("corr-a"), corridor("corr-a")
    registered(a)
    b.check()
    assert all(np.array_equal(a.split[k], b.split[k]) for k in a.split)
    assert np.array_equal(a.pool("test"), b.pool("test"))
    c = corridor("corr-a", split_seed=3).check()
    assert not np.array_equal(a.pool("train"), c.pool("train"))


def _replay(family, tasks, traj):
    """Play each task's recorded actions in a fresh env: the histories must match it step for step."""
    for b, text in enumerate(tasks.params[TASK_PARAM]):
        env = family.make_env(json.loads(text), 0)
        obs, _ = env.reset()
        t_in_episode = 0
        for t in np.flatnonzero(traj.valid[b]):
            assert traj.observations[b, t] == obs, (b, t)
            global_id = tasks.action_sets[b, traj.actions[b, t]]
            reward, end = 0.0, False
            for move in compound_digits(global_id, family.env_actions, family.compound):
                obs, r, terminated, truncated, _ = env.step(int(move))
                reward += r
                if terminated or truncated:
                    end = True
                    break
            t_in_episode += 1
            end = end or t_in_episode == family.max_episode_steps
            assert traj.rewards[b, t] == reward and traj.dones[b, t] == end, (b, t)
            if end:  # the next recorded observation is the first of a new episode
                obs, _ = env.reset()
                t_in_episode = 0


@pytest.mark.parametrize("compound", [1, 2])
def test_episode_boundaries_and_first_obs_after_reset(registered, compound):
    family = registered(corridor(f"corr-c{compound}", compound=compound, max_episode_steps=6))
    tasks = eval_suite(family.name, "all_train", seed=0, num_tasks=6)
    traj = icrl.rollout(icrl.make_teacher("random"), icrl.make_env(tasks), episodes=12, seed=1)
    assert (traj.dones & traj.valid).sum(axis=1).tolist() == [12] * 6
    _replay(family, tasks, traj)
    ends = np.flatnonzero((traj.dones & traj.valid)[0])[:-1]
    assert (traj.observations[0, ends + 1] == 0).all()  # the start cell follows every episode end
    assert (traj.observations[0, ends] != 0).any() or (traj.rewards[0, ends] == 0).all()


def test_histories_store_task_dicts_and_action_sets(registered, tmp_path):
    registered(corridor())
    cfg = load_config("corridor-cpu", TINY + ["data.episodes=5"])
    path = generate_dataset(cfg, tmp_path / "h.h5", progress=False)
    data = load_histories(path)
    tasks = train_tasks("corridor", 16, seed=0)
    assert data.task_params[TASK_PARAM].tolist() == tasks.params[TASK_PARAM].tolist()
    assert all(json.loads(t)["goal"] in (1, 3, 5, 7) for t in data.task_params[TASK_PARAM])
    assert np.array_equal(data.action_sets[:, :3], tasks.action_sets) and (data.num_actions == 3).all()
    assert data.tasks().params[TASK_PARAM].tolist() == tasks.params[TASK_PARAM].tolist()
    # the same config and seed give the same bytes
    again = generate_dataset(cfg, tmp_path / "h2.h5", progress=False)
    assert (tmp_path / "h.h5").read_bytes() == again.read_bytes()


def test_damaged_task_json_is_refused(registered, tmp_path):
    import h5py

    registered(corridor())
    path = generate_dataset(load_config("corridor-cpu", TINY + ["data.episodes=3"]), tmp_path / "h.h5", progress=False)
    with h5py.File(path, "a") as f:
        f["task"][TASK_PARAM][0] = "{not json"
    with pytest.raises(icrl.IcrlError, match="not a JSON task dict"):
        load_histories(path)


class BoxActions(Corridor):
    def __init__(self, goal):
        super().__init__(goal)
        self.action_space = spaces.Box(-1, 1, (1,))


def _one_line(err) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("make, match", [
    (lambda: icrl.GymFamily("bad", lambda t, s: BoxActions(1), sample_goals), "action space must be Discrete"),
    (lambda: icrl.GymFamily("bad", lambda t, s: Corridor(1), lambda rng, n, split: None, max_episode_steps=5),
     "returned nothing"),
    (lambda: icrl.GymFamily("bad", lambda t, s: Corridor(1), lambda rng, n, split: [], max_episode_steps=5),
     "returned 0 tasks"),
    (lambda: icrl.GymFamily("bad", lambda t, s: Corridor(1), lambda rng, n, split: [{"goal": np.int64(1)}] * n,
                            max_episode_steps=5), "not JSON"),
    (lambda: icrl.GymFamily("bad", lambda t, s: Corridor(1), lambda rng, n, split: [{"goal": {1, 2}}] * n,
                            max_episode_steps=5), "not JSON"),
    (lambda: corridor("bad", compound=4), "more than the model can take"),
    (lambda: corridor("bad", oracle=lambda env, obs: 7), "outside the action space"),
    (lambda: corridor("bad", oracle=lambda env, obs: [1, -1]), "outside the action space"),
    (lambda: corridor("bad", max_episode_steps=0), "max_episode_steps"),
    (lambda: corridor("bad", action_split=0.9), "action_split"),
    (lambda: corridor("bad", teacher="nonesuch"), "unknown teacher"),
    (lambda: corridor("bad", baselines=("sarsa@10ep",)), "not a teacher"),
    (lambda: corridor("bad", num_test_tasks=0), "num_test_tasks"),
    (lambda: icrl.GymFamily("bad", lambda t, s: Corridor(1), lambda rng, n, split: ["goal"] * n, max_episode_steps=5),
     "each task must be a dict"),
    (lambda: icrl.GymFamily("bad", lambda t, s: "not an env", sample_goals, max_episode_steps=5), "not a gymnasium.Env"),
])
def test_bad_families_fail_in_one_line_before_any_work(make, match):
    before, presets = dict(ENV_SPECS), dict(PRESETS)
    with pytest.raises(FamilyError, match=match) as err:
        icrl.register(make())
    _one_line(err)
    assert ENV_SPECS == before and PRESETS == presets


def test_vector_observations_use_a_linear_encoder(registered, tmp_path):
    family = registered(corridor("corr-vec", vector=True, teacher="random"))
    assert family.obs_kind == "vector" and family.obs_dim == LENGTH
    assert env_spec("corr-vec").baselines == ("random",)
    with pytest.raises(FamilyError, match="cannot learn from vector"):
        icrl.register(corridor("corr-vec2", vector=True))
    tasks = eval_suite("corr-vec", "train_test", seed=0, num_tasks=3)
    traj = icrl.rollout(icrl.make_teacher("random"), icrl.make_env(tasks), episodes=4, seed=0)
    assert traj.observations.shape[2:] == (LENGTH,) and traj.observations.dtype == np.float32
    assert (traj.observations[traj.valid].sum(axis=1) == 1).all()  # one-hot cells, flattened
    results = icrl.run("corr-vec-cpu", tmp_path / "run", overrides=[*TINY, "train.num_steps=20",
                                                                   f"data.path={tmp_path / 'd.h5'}"], progress=False)
    from icrl.models.model import nn

    agent = icrl.Agent.load(tmp_path / "run")
    assert isinstance(agent.policy.model.layout.obs_embed, nn.Linear)
    assert set(results["suites"]) == set(env_spec("corr-vec").eval_suites)


def test_register_and_run_end_to_end(registered, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    registered(corridor())
    results = icrl.run("corridor-cpu", "runs/corridor", overrides=["train.num_steps=100", *TINY, "eval.episodes=10", "eval.tune=true",
                                                                   "eval.tune_num_tasks=4"], progress=False)
    assert set(results["suites"]) == set(env_spec("corridor").eval_suites)
    assert (tmp_path / "runs/corridor/tune.json").exists() and "headless_ad@tuned" in results["suites"]["all_test"]
    row = results["suites"]["train_train"]
    assert {"headless_ad", "random", "qlearning"} <= set(row)
    assert (tmp_path / "runs/corridor/report.md").exists()
    data = load_histories(next((tmp_path / "data").glob("corridor-cpu-*.h5")))
    assert data.env == "corridor" and TASK_PARAM in data.task_params


FAMILY_MODULE = '''
import gymnasium as gym
import numpy as np
from gymnasium import spaces

import icrl


class Ring(gym.Env):
    """7 cells in a ring; action k moves k cells on; the goal pays 1 and ends the episode."""

    def __init__(self, goal):
        self.goal = goal
        self.action_space = spaces.Discrete(7)
        self.observation_space = spaces.Discrete(7)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.cell = 0
        return self.cell, {}

    def step(self, action):
        self.cell = (self.cell + int(action)) % 7
        return self.cell, float(self.cell == self.goal), self.cell == self.goal, False, {}


def sample(rng, n, split):
    return [{"goal": int(g)} for g in rng.choice([1, 2, 3, 4] if split == "train" else [5, 6], size=n)]


ring = icrl.GymFamily("ring-user", lambda task, seed: Ring(task["goal"]), sample, episodes=20, max_episode_steps=8)
'''


def test_yaml_family_from_a_user_module_runs_through_the_cli(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from icrl.cli import app

    (tmp_path / "user_families.py").write_text(FAMILY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my.yaml").write_text(textwrap.dedent("""\
        family: "user_families:ring"
        extends: ring-user-cpu
        train: {num_steps: 20}
        """))
    try:
        args = ["run", "my.yaml", "--run-dir", "runs/my"]
        for item in TINY:
            args += ["--set", item]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert (tmp_path / "runs/my/eval.json").exists()
        saved = json.loads((tmp_path / "runs/my/config.json").read_text())
        assert saved["family"] == "user_families:ring" and saved["env"] == "ring-user"
        # a new process finds the family again through the saved config
        unregister("ring-user")
        sys.modules.pop("user_families")
        agent = icrl.Agent.load(tmp_path / "runs/my")
        assert "ring-user" in ENV_SPECS and agent.policy.model.obs_kind == "discrete"
        bad = tmp_path / "bad.yaml"
        bad.write_text('family: "user_families:nothing"\nextends: darkroom-cpu\n')
        result = CliRunner().invoke(app, ["config", str(bad)])
        assert result.exit_code == 2 and "has no attribute 'nothing'" in result.output
    finally:
        if "ring-user" in ENV_SPECS:
            unregister("ring-user")


def corridor_oracle(env, obs):
    """The moves that reach the goal in the fewest steps from cell ``obs`` (moves of up to 2 cells)."""
    goal = env.unwrapped.goal
    cost = [0 if (new := int(np.clip(obs + m, 0, LENGTH - 1))) == goal else 1 + abs(goal - new) // 2 + abs(goal - new) % 2
            for m in MOVES]
    return [a for a, c in enumerate(cost) if c == min(cost)]


def test_noisy_oracle_teacher_and_optimal_labels(registered, tmp_path):
    family = registered(corridor("corr-oracle", oracle=corridor_oracle, teacher="noisy_oracle"))
    assert env_spec("corr-oracle").baselines == ("random", "noisy_oracle", "qlearning")
    tasks = eval_suite(family.name, "all_train", seed=0, num_tasks=8)
    env = icrl.make_env(tasks)
    traj = icrl.rollout(icrl.make_teacher("noisy_oracle", decay_fraction=0.5), env, episodes=10, seed=0,
                        record_optimal=True)
    returns = traj.episode_returns()
    assert (returns[:, -3:] == 1).all()  # no noise left: every late episode reaches the goal
    goals = np.array([json.loads(t)["goal"] for t in tasks.params[TASK_PARAM]])
    ends = traj.dones & traj.valid
    last_start = np.array([np.flatnonzero(ends[b])[-2] + 1 for b in range(8)])
    last_length = ends.shape[1] - last_start - (~traj.valid).sum(axis=1)
    assert (last_length == (goals + 1) // 2).all()  # the shortest path: moves of 2 (and one of 1)
    labels = traj.probs.astype(np.float64)[traj.valid]
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=2e-3)
    with pytest.raises(FamilyError, match="needs an oracle"):
        icrl.register(corridor("corr-no-oracle", teacher="noisy_oracle"))
    # DPT labels from the oracle: Headless-DPT trains and evaluates on the family
    results = icrl.run("corr-oracle-cpu", tmp_path / "dpt", progress=False, overrides=[
        *TINY, "train.num_steps=10", "model.kind=headless_dpt", "data.targets=optimal", "data.episodes=20",
        f"data.path={tmp_path / 'dpt.h5'}"])
    assert "headless_dpt" in results["suites"]["test_test"]
    assert load_histories(tmp_path / "dpt.h5").targets is not None


def test_any_policy_class_as_teacher(registered):
    from icrl.teachers import TEACHERS, RandomPolicy

    class AlwaysFirst(RandomPolicy):
        name = "always_first"

        def act(self, obs):
            return np.zeros(self.num_envs, dtype=np.int64)

    registered(corridor("corr-policy", teacher=AlwaysFirst))
    assert TEACHERS["always_first"] is AlwaysFirst and load_config("corr-policy-cpu").data.teacher == "always_first"
    unregister("corr-policy")
    assert "always_first" not in TEACHERS
    icrl.register(corridor("corr-policy", teacher=AlwaysFirst))  # the fixture forgets this one


# -- FrozenLake on random maps ------------------------------------------------------------------
def test_frozenlake_is_registered_with_disjoint_maps_and_two_move_actions():
    from icrl.suites.frozenlake import FROZENLAKE, is_test_map

    assert {"frozenlake", "frozenlake-cpu"} <= set(list_presets())
    cfg = load_config("frozenlake-cpu")
    assert cfg.env == "frozenlake" and cfg.data.teacher == "qlearning"
    assert FROZENLAKE.num_actions == 16 and len(FROZENLAKE.split["test_actions"]) == 6
    train = {json.dumps(json.loads(t)["map"]) for t in FROZENLAKE.pool("train")}
    test = {json.dumps(json.loads(t)["map"]) for t in FROZENLAKE.pool("test")}
    assert not train & test and all(is_test_map(json.loads(m)) for m in test)
    assert env_spec("frozenlake").baselines == ("random", "qlearning", "explore_replay")


def test_frozenlake_oracle_finds_shortest_two_move_paths():
    from icrl.suites.frozenlake import shortest_moves

    tasks = eval_suite("frozenlake", "all_test", seed=0, num_tasks=12)
    env = icrl.make_env(tasks)
    traj = icrl.rollout(icrl.make_teacher("noisy_oracle", num_episodes=1, decay_fraction=0.01), env, episodes=3,
                        seed=0)
    assert (traj.episode_returns()[:, 1:] == 1).all()  # no noise after the first episode: the goal every time
    # 6 moves from the start corner to the goal corner of a 4x4 map, at least: 3 compound steps
    ends = [np.flatnonzero(row) for row in traj.dones & traj.valid]
    assert all(e[2] - e[1] >= 3 for e in ends)
    gym_env = gym.make("FrozenLake-v1", desc=["SFFF", "FHFH", "FFFH", "HFFG"], is_slippery=False)
    gym_env.reset(seed=0)
    assert shortest_moves(gym_env, 0) == [1, 2]  # down or right
    assert shortest_moves(gym_env, 14) == [2]


# -- the documentation's example ------------------------------------------------------------------
def test_docs_example_runs_as_written(tmp_path, monkeypatch, capsys):
    import re

    import icrl.pipeline

    text = (Path(__file__).parents[1] / "docs" / "bring-your-own-env.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert 30 <= len(code.strip().splitlines()) <= 60
    real_run = icrl.pipeline.run

    def tiny_run(preset, run_dir=None, *, overrides=(), **kwargs):  # the example's call, made smaller
        return real_run(preset, run_dir, overrides=[*overrides, *TINY, "train.num_steps=20"], progress=False)

    monkeypatch.setattr(icrl.pipeline, "run", tiny_run)
    monkeypatch.chdir(tmp_path)
    try:
        exec(compile(code, "bring-your-own-env.md", "exec"), {"__name__": "docs_example"})
    finally:
        if "ring" in ENV_SPECS:
            unregister("ring")
    out = capsys.readouterr().out
    assert "| test_test |" in out and "qlearning" in out
    assert json.loads((tmp_path / "runs/ring/eval.json").read_text())["suites"].keys() >= {"all_test", "test_train"}


# -- Minari in and out -------------------------------------------------------------------------------
def _same_histories(a, b):
    for name in ("observations", "actions", "rewards", "dones", "offsets", "num_actions", "action_sets"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert getattr(a, name).dtype == getattr(b, name).dtype, name
    assert a.task_params.keys() == b.task_params.keys()
    for key in a.task_params:
        assert np.array_equal(a.task_params[key], b.task_params[key]), key
    assert a.attrs == b.attrs


@pytest.fixture
def minari_home(tmp_path, monkeypatch):
    pytest.importorskip("minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    return tmp_path


@pytest.mark.parametrize("env", ["corridor", "darkroom", "bandit", "corr-vec"])
def test_minari_round_trip_gives_identical_histories(registered, minari_home, small_dataset_path, env):
    from icrl.data.minari_io import export_minari, import_minari

    if env in ("darkroom", "bandit"):
        path = small_dataset_path(env)
    else:
        registered(corridor(env, vector=env == "corr-vec", teacher="random"))
        path = generate_dataset(load_config(f"{env}-cpu", TINY + ["data.episodes=4"]), minari_home / "h.h5",
                                progress=False)
    export_minari(path, f"icrl/{env}-v0")
    import minari

    dataset = minari.load_dataset(f"icrl/{env}-v0")
    original = load_histories(path)
    assert dataset.total_episodes == int(original.dones.sum() + (~original.dones[original.offsets[1:] - 1]).sum())
    first = dataset.storage.get_episode_metadata([0])
    first = next(iter(first))
    assert first["history"] == 0 and first["episode"] == 0 and len(first["action_set"]) == original.num_actions[0]
    assert isinstance(json.loads(first["task"]), dict)
    if TASK_PARAM in original.task_params:
        assert json.loads(first["task"]) == json.loads(original.task_params[TASK_PARAM][0])
    back = import_minari(f"icrl/{env}-v0", minari_home / "back.h5")
    _same_histories(original, load_histories(back))
    with pytest.raises(FileExistsError):
        export_minari(path, f"icrl/{env}-v0")


def test_import_plain_minari_dataset_grouped_by_a_key(minari_home):
    import minari
    from minari.data_collector import EpisodeBuffer

    from icrl.data.minari_io import import_minari

    buffers = []
    for i in range(6):  # 3 learners, 2 episodes each, interleaved
        T = 3 + i
        buffers.append(EpisodeBuffer(id=i, observations=np.arange(T + 1) % 5, actions=np.full(T, i % 3),
                                     rewards=np.linspace(0, 1, T), terminations=np.eye(T, dtype=bool)[-1],
                                     truncations=np.zeros(T, bool)))
    dataset = minari.create_dataset_from_buffers("plain/walk-v0", buffers, action_space=spaces.Discrete(3),
                                                 observation_space=spaces.Discrete(5), algorithm_name="someone")
    dataset.storage.update_episode_metadata([{"learner": f"L{i % 3}"} for i in range(6)])
    with pytest.raises(icrl.IcrlError, match="history-key"):
        import_minari("plain/walk-v0", minari_home / "h.h5")
    with pytest.raises(icrl.IcrlError, match="no key 'nope'"):
        import_minari("plain/walk-v0", minari_home / "h.h5", history_key="nope")
    data = load_histories(import_minari("plain/walk-v0", minari_home / "h.h5", history_key="learner", env="walk"))
    assert data.num_histories == 3 and data.lengths.tolist() == [3 + 6, 4 + 7, 5 + 8]
    assert data.env == "walk" and data.attrs["teacher"] == "someone" and (data.num_actions == 3).all()
    assert data.dones.sum() == 6 and (data.actions[: 9] == 0).all()
    assert data.observations[:4].tolist() == [0, 1, 2, 0]  # episode 0's 3 steps, then episode 3 starts


def test_minari_commands(minari_home, small_dataset_path):
    from typer.testing import CliRunner

    from icrl.cli import app

    path = small_dataset_path("darkroom")
    runner = CliRunner()
    result = runner.invoke(app, ["export-minari", str(path), "icrl/dr-v0"])
    assert result.exit_code == 0 and "icrl/dr-v0" in result.output, result.output
    result = runner.invoke(app, ["export-minari", str(path), "icrl/dr-v0"])
    assert result.exit_code == 2 and "--force" in result.output
    out = minari_home / "back.h5"
    result = runner.invoke(app, ["import-minari", "icrl/dr-v0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    _same_histories(load_histories(path), load_histories(out))
    result = runner.invoke(app, ["import-minari", "icrl/nothing-v0", "--out", str(out)])
    assert result.exit_code == 2 and "no local Minari dataset" in result.output


# -- MiniGrid random-goal rooms ---------------------------------------------------------------------
def test_minigrid_family_is_lazy_and_plans_on_the_full_grid():
    pytest.importorskip("minigrid")
    from icrl.suites import LAZY_FAMILIES

    assert {"minigrid", "minigrid-cpu"} <= set(list_presets()) and "minigrid-cpu" in LAZY_FAMILIES
    cfg = load_config("minigrid-cpu")  # registers the family on first use
    assert cfg.env == "minigrid" and cfg.family == "icrl.suites.minigrid_rooms:MINIGRID"
    assert cfg.data.teacher == "noisy_oracle" and cfg.eval.tune and cfg.eval.tune_num_tasks == 20  # cpu_overrides
    spec = env_spec("minigrid")
    assert spec.env_class.obs_kind == "vector" and spec.env_class.obs_dim == 7 * 7 * 3 and spec.universe == 9
    from icrl.suites.minigrid_rooms import TEST_GOALS, copy_room, make_room

    tasks = eval_suite("minigrid", "test_test", seed=0, num_tasks=8)
    assert {tuple(json.loads(t)["goal"]) for t in tasks.params[TASK_PARAM]} <= set(TEST_GOALS)
    traj = icrl.rollout(icrl.make_teacher("noisy_oracle", num_episodes=1, decay_fraction=0.01), icrl.make_env(tasks),
                        episodes=3, seed=0)
    assert (traj.episode_returns()[:, 1:] > 0).all()  # the planner reaches the goal with unseen actions
    env = make_room({"goal": [4, 4]}, 0)
    obs, _ = env.reset(seed=0)
    twin = copy_room(env)
    twin.step(2)
    assert tuple(env.unwrapped.agent_pos) == (1, 1) and tuple(twin.unwrapped.agent_pos) == (2, 1)


def test_minigrid_cpu_runs_end_to_end_tiny(tmp_path):
    pytest.importorskip("minigrid")
    results = icrl.run("minigrid-cpu", tmp_path / "run", overrides=[*TINY, "train.num_steps=20", "data.episodes=4",
                                                                   "eval.episodes=4", f"data.path={tmp_path / 'd.h5'}"],
                       progress=False)
    assert set(results["suites"]["all_test"]) >= {"headless_ad", "random", "noisy_oracle"}
    assert load_histories(tmp_path / "d.h5").observations.shape[1] == 147


def test_registered_family_from_a_module_is_found_again_in_a_new_process(tmp_path, monkeypatch):
    import subprocess

    (tmp_path / "user_families2.py").write_text(FAMILY_MODULE.replace('"ring-user"', '"ring-py"'))
    monkeypatch.syspath_prepend(str(tmp_path))
    import user_families2

    icrl.register(user_families2.ring)
    try:
        assert load_config("ring-py-cpu").family == "user_families2:ring"
        run_dir = tmp_path / "run"
        icrl.run("ring-py-cpu", run_dir, overrides=[*TINY, "train.num_steps=10", f"data.path={tmp_path / 'd.h5'}"],
                 progress=False)
        code = f"import icrl; print(icrl.Agent.load({str(run_dir)!r}).policy.model.obs_dim)"
        env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{Path(icrl.__file__).parents[1]}"}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and out.stdout.strip() == "7", out.stderr[-2000:]
        out = subprocess.run([sys.executable, "-m", "icrl", "config", "ring-py-cpu"], env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 2 and "unknown preset" in out.stderr  # a preset name alone does not import it
    finally:
        unregister("ring-py")
        sys.modules.pop("user_families2", None)


def test_sweep_of_a_yaml_family(tmp_path):
    import subprocess

    (tmp_path / "sweep_families.py").write_text(FAMILY_MODULE.replace('"ring-user"', '"ring-sweep"'))
    (tmp_path / "my.yaml").write_text(textwrap.dedent("""\
        family: "sweep_families:ring"
        extends: ring-sweep-cpu
        data: {num_tasks: 16, batch_tasks: 8}
        model: {d_model: 32, num_heads: 2, num_layers: 1, seq_len: 40}
        train: {num_steps: 10, batch_size: 8, compile: false}
        eval: {num_tasks: 4, tune: false}
        """))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{Path(icrl.__file__).parents[1]}", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "icrl", "sweep", "my.yaml", "--seeds", "1"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert (tmp_path / "sweeps/my/base/seed0/eval.json").exists()


def test_icrl_presets_lists_the_shipped_families():
    from typer.testing import CliRunner

    from icrl.cli import app

    result = CliRunner().invoke(app, ["presets"])
    assert result.exit_code == 0, result.output
    names = {line.split()[0] for line in result.output.splitlines() if line.strip()}
    assert {"frozenlake", "frozenlake-cpu"} <= names
    if __import__("importlib").util.find_spec("minigrid") is not None:
        assert {"minigrid", "minigrid-cpu"} <= names


class ShiftedCorridor(Corridor):
    """The corridor with spaces that do not start at 0: actions 10..14, observations 100..107."""

    def __init__(self, goal):
        super().__init__(goal)
        self.action_space = spaces.Discrete(len(MOVES), start=10)
        self.observation_space = spaces.Discrete(LENGTH, start=100)

    def _obs(self):
        return 100 + self.pos

    def step(self, action):
        assert 10 <= int(action) < 15, action
        return super().step(int(action) - 10)


def test_spaces_that_do_not_start_at_zero(registered):
    family = registered(icrl.GymFamily("corr-shift", lambda task, seed: ShiftedCorridor(task["goal"]), sample_goals,
                                       episodes=5, max_episode_steps=6, compound=2,
                                       oracle=lambda env, obs: [10 + a for a in corridor_oracle(env, obs - 100)]))
    assert family.num_actions == 25 and family.obs_dim == LENGTH
    tasks = eval_suite("corr-shift", "all_train", seed=0, num_tasks=4)
    traj = icrl.rollout(icrl.make_teacher("noisy_oracle", num_episodes=1, decay_fraction=0.01), icrl.make_env(tasks),
                        episodes=3, seed=0)
    assert traj.observations.min() == 0 and traj.observations.max() < LENGTH  # cells counted from 0
    assert (traj.episode_returns()[:, 1:] == 1).all()
    with pytest.raises(FamilyError, match="outside the action space"):
        icrl.register(icrl.GymFamily("corr-shift2", lambda task, seed: ShiftedCorridor(task["goal"]), sample_goals,
                                     max_episode_steps=6, oracle=lambda env, obs: 2))


def test_tasks_whose_envs_have_different_spaces_are_refused(registered):
    class Longer(Corridor):
        def __init__(self, goal):
            super().__init__(goal)
            self.observation_space = spaces.Discrete(LENGTH + goal)

    registered(icrl.GymFamily("corr-spaces", lambda task, seed: Longer(task["goal"]), sample_goals, max_episode_steps=5))
    tasks = eval_suite("corr-spaces", "all_train", seed=0, num_tasks=8)
    with pytest.raises(icrl.IcrlError, match="must share their spaces") as err:
        icrl.make_env(tasks)
    _one_line(err)


def test_the_issue_call_without_a_time_limit(registered):
    """The issue's call as written: no max_episode_steps, and an env without a spec (no time limit)."""
    family = registered(icrl.GymFamily(name="corr-issue", make_env=lambda task, seed: Corridor(task["goal"]),
                                       sample_tasks=sample_goals, compound=1, action_split=0.4, teacher="qlearning",
                                       oracle=None, episodes=50))
    assert family.max_episode_steps == 100 and load_config("corr-issue-cpu").model.seq_len == 200
    gym_made = registered(icrl.GymFamily("corr-gym", lambda task, seed: gym.make("FrozenLake-v1"),
                                         lambda rng, n, split: [{}] * n, compound=2))
    assert gym_made.max_episode_steps == 50  # FrozenLake-v1's 100 steps, in 2-move actions
