"""Bad input, in one place: every case gets one clear error that names the bad value, the CLI exits
with status 2 and no traceback, and nothing is written or overwritten.

Kinds: CLI options and overrides, config values, files (datasets, models, run directories), the
``Agent`` and the Gymnasium adapters. Deeper checks of each kind live beside their module's tests.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from icrl.agent import Agent
from icrl.cli import app
from icrl.config import ConfigError, ModelConfig, load_config
from icrl.envs.base import EnvError
from icrl.models.model import InContextModel

runner = CliRunner()


def snapshot(folder) -> dict:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# -- CLI: exit 2, one "error:" line naming the value, no traceback, nothing written --------------
CLI_CASES = [
    (["run", "no-such-preset"], "no-such-preset"),
    (["run", "bandit-cpu", "--set", "train.lr=-1"], "train.lr=-1.0"),
    (["run", "bandit-cpu", "--set", "train.lr=.nan"], "train.lr=nan"),
    (["run", "bandit-cpu", "--set", "model.kind=gpt"], "model.kind='gpt'"),
    (["run", "bandit-cpu", "--set", "model.layout=diagonal"], "model.layout='diagonal'"),
    (["run", "bandit-cpu", "--set", "model.num_heads=5"], "model.num_heads=5"),
    (["run", "bandit-cpu", "--set", "model.d_model=0"], "model.d_model=0"),
    (["run", "bandit-cpu", "--set", "model.dropout=1.5"], "model.dropout=1.5"),
    (["run", "bandit-cpu", "--set", "model.max_actions=50"], "model.max_actions=50"),
    (["run", "bandit-cpu", "--set", "data.teacher=sarsa"], "data.teacher='sarsa'"),
    (["run", "bandit-cpu", "--set", "data.teacher=qlearning"], "data.teacher='qlearning'"),
    (["run", "bandit-cpu", "--set", "data.targets=everything"], "data.targets='everything'"),
    (["run", "bandit-cpu", "--set", "data.num_tasks=0"], "data.num_tasks=0"),
    (["run", "bandit-cpu", "--set", "data.teacher_kwargs={beta: 2}"], "data.teacher_kwargs"),
    (["run", "bandit-cpu", "--set", "eval.episodes=5", "--set", "eval.steps=null"], "eval.episodes=5"),
    (["run", "bandit-cpu", "--set", "eval.temperature=0"], "eval.temperature=0.0"),
    (["run", "bandit-cpu", "--set", "eval.action_selection=greedy"], "eval.action_selection='greedy'"),
    (["run", "bandit-cpu", "--set", "eval.suites=[train,mars]"], "mars"),
    (["run", "bandit-cpu", "--set", "train.device=tpu"], "train.device='tpu'"),
    (["run", "bandit-cpu", "--set", "train.amp=fp8"], "train.amp='fp8'"),
    (["run", "bandit-cpu", "--set", "nosection.x=1"], "nosection"),
    (["run", "bandit-cpu", "--set", "train.nofield=1"], "train.nofield"),
    (["run", "bandit-cpu", "--set", "train.lr"], "train.lr"),
    (["run", "darkroom-cpu", "--set", "data.teacher=thompson"], "data.teacher='thompson'"),
    (["run", "darkroom-cpu", "--set", "eval.episodes=null", "--set", "eval.steps=9"], "eval.steps=9"),
    (["run", "contextual-cpu", "--set", "data.teacher=ucb"], "data.teacher='ucb'"),
    (["generate", "bandit-cpu", "--num-tasks", "0"], "data.num_tasks=0"),
    (["baselines", "pong"], "pong"),
    (["baselines", "bandit", "--suites", "train,mars"], "mars"),
    (["eval", "no-such-run"], "no-such-run"),
    (["config", "no-such-preset"], "no-such-preset"),
]


@pytest.mark.parametrize(("args", "named"), CLI_CASES, ids=[" ".join(a) for a, _ in CLI_CASES])
def test_cli_refuses_in_one_line_naming_the_value(tmp_path, monkeypatch, args, named):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    result = runner.invoke(app, args)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2, result.output
    assert len(errors) == 1 and named in errors[0], result.output
    assert "Traceback" not in result.output
    assert snapshot(tmp_path) == before and not (tmp_path / "data").exists() and not (tmp_path / "runs").exists()


# -- config values (the library's ConfigError names field and value) ----------------------------
CONFIG_CASES = [
    ("train.batch_size=2.5", "train.batch_size"), ("train.beta1=1.5", "train.beta1"),
    ("train.warmup_fraction=-0.1", "train.warmup_fraction"), ("train.grad_clip=0", "train.grad_clip"),
    ("train.weight_decay=-inf", "train.weight_decay"), ("model.tau=0", "model.tau"),
    ("model.seq_len=0", "model.seq_len"), ("model.action_dim=8", "model.action_dim"),
    ("model.embeddings=uniform", "model.embeddings"), ("model.loss=hinge", "model.loss"),
    ("data.steps=-3", "data.steps"), ("eval.num_tasks=0", "eval.num_tasks"),
    ("eval.batch_size=-1", "eval.batch_size"), ("model.prompt=maybe", "model.prompt"),
]


@pytest.mark.parametrize(("override", "field"), CONFIG_CASES)
def test_config_values_are_refused_naming_the_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config("bandit-cpu", [override])


# -- files: refused with the file named; the file is left as it was -----------------------------
def _dataset(tmp_path, small_dataset_path):
    path = tmp_path / "d.h5"
    path.write_bytes(small_dataset_path("bandit").read_bytes())
    return path


def _set(dataset, index, value):
    def damage(path):
        with h5py.File(path, "r+") as f:
            f[dataset][index] = value
    return damage


FILE_CASES = {
    "random bytes": lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)),
    "empty": lambda p: p.write_bytes(b""),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 3]),
    "mean of 4e307": _set("task/means", (0, 0), 4e307),
    "negative mean": _set("task/means", (2, 1), -1.0),
    "NaN reward": _set("rewards", (0,), np.nan),
    "action outside the set": _set("actions", (0,), 99),
    "foreign format": lambda p: _attr(p, "format", "other"),
    "future schema": lambda p: _attr(p, "schema_version", 99),
}


def _attr(path, name, value):
    with h5py.File(path, "r+") as f:
        f.attrs[name] = value
    return False


@pytest.mark.parametrize("damage", sorted(FILE_CASES))
def test_damaged_or_foreign_datasets_are_refused_with_the_file_named(tmp_path, small_dataset_path, damage):
    from icrl.data import DatasetError, load_histories

    path = _dataset(tmp_path, small_dataset_path)
    FILE_CASES[damage](path)
    before = path.read_bytes()
    with pytest.raises(DatasetError, match=str(path).replace(".", r"\.")):
        load_histories(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", [b"", b"not a model", b"\x00" * 64])
def test_damaged_model_files_are_refused_with_the_file_named(tmp_path, content):
    from icrl.data import DatasetError
    from icrl.models.files import load_model

    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match="model.safetensors"):
        load_model(path)


# -- the Agent ----------------------------------------------------------------------------------
def _agent(obs_kind="none", obs_dim=0):
    torch.manual_seed(0)
    cfg = ModelConfig(kind="headless_ad", layout="compact", seq_len=8, num_layers=1, num_heads=2, d_model=16,
                      dropout=0.0, attn_dropout=0.0, action_dim=32)
    return Agent(InContextModel(cfg, obs_kind, obs_dim), seed=0)


AGENT_CASES = [
    ("reset", "abc"), ("reset", 2.5), ("reset", 0), ("reset", False), ("reset", [1, 1]), ("reset", {}),
    ("reward", float("nan")), ("reward", float("inf")), ("reward", None), ("reward", "1"),
]


@pytest.mark.parametrize(("what", "value"), AGENT_CASES)
def test_agent_refuses_bad_values(what, value):
    agent = _agent()
    if what == "reset":
        with pytest.raises(ValueError, match=repr(value) if not isinstance(value, (list, dict)) else "action"):
            agent.reset(value)
        return
    agent.reset(3)
    agent.act()
    with pytest.raises(ValueError, match="reward"):
        agent.observe(value)


def test_agent_refuses_a_bad_contextual_observation():
    agent = _agent("vector", 2)
    agent.reset(3)
    with pytest.raises(ValueError, match="obs"):
        agent.act([float("nan"), float("nan")])


# -- Gymnasium adapters -------------------------------------------------------------------------
GYM_CASES = [
    ("icrl/BernoulliBandit-v0", {"means": [0.5, 1.5]}, None, "means"),
    ("icrl/BernoulliBandit-v0", {"num_arms": 0}, None, "num_arms"),
    ("icrl/BernoulliBandit-v0", {"num_arms": 3}, 7, "action 7"),
    ("icrl/BernoulliBandit-v0", {"num_arms": 3}, 1.0, "integers"),
    ("icrl/ContextualBandit-v0", {"arm_features": [[np.nan, 0.0]]}, None, "arm_features"),
    ("icrl/DarkRoom-v0", {}, -1, "action -1"),
]


@pytest.mark.parametrize(("env_id", "kwargs", "action", "named"), GYM_CASES)
def test_gymnasium_adapters_refuse_bad_values(env_id, kwargs, action, named):
    import gymnasium

    import icrl.envs.gym  # noqa: F401  (registers the ids)

    if action is None:
        with pytest.raises(EnvError, match=named):
            gymnasium.make(env_id, **kwargs)
        return
    env = gymnasium.make(env_id, disable_env_checker=True, **kwargs).unwrapped
    env.reset(seed=0)
    with pytest.raises(EnvError, match=named):
        env.step(action)


def test_there_are_at_least_60_cases():
    total = len(CLI_CASES) + len(CONFIG_CASES) + len(FILE_CASES) + 3 + len(AGENT_CASES) + 1 + len(GYM_CASES)
    assert total >= 60, total
