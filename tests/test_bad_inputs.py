"""Bad input, in one place: every case gets one clear error that names the bad value, the CLI exits
with status 2 and no traceback, and nothing is written or overwritten.

Kinds: CLI options and overrides, config values, files (datasets, models, run directories), the
``Agent`` and the Gymnasium adapters. Deeper checks of each kind live beside their module's tests.
"""

from __future__ import annotations

import dataclasses
import re

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
    (["run", "bandit-cpu", "--set", "model.head_size=50"], "model.head_size=50"),
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
    # round 3 (ids of ../shared/notes/reliability-round3.md)
    (["generate", "bandit-cpu", "--seed", "-1"], "data.seed=-1"),  # B01
    (["baselines", "bandit", "--seed", "-1", "--num-tasks", "2", "--suites", "train"], "--seed=-1"),  # C41
    (["run", "bandit-cpu", "--set", 'name=""'], "name=''"),  # B06
    (["run", "bandit-cpu", "--set", "name=../escape"], "name='../escape'"),  # B07
    (["generate", "bandit-cpu", "--set", "data.teacher_kwargs.prior_a=.nan"], "prior_a"),  # B08
    (["generate", "bandit-cpu", "--set", "data.targets=policy", "--set", "data.teacher_kwargs.prob_draws=2.5"],
     "prob_draws"),  # B09
    (["generate", "bandit-cpu", "--set", "data.targets=policy", "--set", "data.teacher_kwargs.prob_draws=100000000000"],
     "prob_draws"),  # B20
    (["train", "bandit-cpu", "--set", "data.steps=5", "--set", "model.seq_len=60"], "data.steps=5"),  # B12
    (["train", "bandit-cpu", "--set", "train.batch_size=1000000000000000000000"], "train.batch_size"),  # B13
    (["run", "bandit-cpu", "--set", "eval.suites=[]"], "eval.suites=[]"),  # B15
    (["run", "bandit-cpu", "--set", "train.eval_every=10", "--set", "train.eval_suites=[]"], "train.eval_every=10"),  # A60
    (["run", "bandit-cpu", "--set", "data.path=/proc/x.h5"], "/proc"),  # C61
    (["sweep", "bandit-cpu", "--seeds", "1", "--vary", "data.seed=1,2", "--dry-run"], "data.seed"),  # S12
    (["sweep", "bandit-cpu", "--seeds", "100000000", "--dry-run"], "--seeds=100000000"),  # S23
    (["sweep", "bandit-cpu", "--seeds", "2", "--first-seed", "4294967295", "--dry-run"], "--first-seed=4294967295"),
    (["sweep", "bandit-cpu", "--ablations", "--only", "no_prompt,nope", "--dry-run"], "nope"),
    (["compare", "runs", "--reps", "100000000"], "--reps=100000000"),  # P16
    (["run", "bandit-cpu", "--set", "eval.suites=train,train"], "each suite once"),
    (["baselines", "bandit", "--num-tasks", "1000000000"], "--num-tasks=1000000000"),
    (["baselines", "bandit", "--out", "b.md"], "--out b.md"),  # JSON under a Markdown name
    (["baselines", "bandit", "--num-tasks", "2", "--suites", "train", "--out", "/proc/b.json"], "/proc/b.json: could not be written"),
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


# -- YAML presets: one line naming the file and the line ----------------------------------------
YAML_CASES = {
    "A03 section twice": (b"extends: bandit-cpu\ntrain: {lr: 0.5}\ntrain: {lr: 0.002}\n", "line 3: 'train' is given twice"),
    "A04 field twice": (b"extends: bandit-cpu\ntrain: {lr: 0.5, lr: 0.002}\n", "line 2: 'lr' is given twice"),
    "A25 integer key": (b"extends: bandit-cpu\ntrain: {1: 2}\n", "line 2: key 1"),
    "A26 null key": (b"extends: bandit-cpu\n~: 3\ntrain: {lr: 0.1}\n", "line 2: key None"),
    "A27 tab": (b"extends: bandit-cpu\ntrain:\n\tlr: 0.1\n", "line 3, column 1: not valid YAML"),
    "A28 unclosed": (b"extends: bandit-cpu\ntrain: {lr: 0.1\n", "line 3, column 1: not valid YAML"),
    "A29 not UTF-8": (b"extends: bandit-cpu\nname: \xff\xfe\x00x\n", "not UTF-8"),
    "A34 extends a number": (b"extends: 5\n", "extends=5"),
    "A35 extends a list": (b"extends: [bandit, darkroom]\n", "extends=['bandit', 'darkroom']"),
    "A63 python tag": (b"extends: bandit-cpu\nmodel: {kind: !!python/object:os.system [ls]}\n", "line 2, column 15"),
}


@pytest.mark.parametrize("case", sorted(YAML_CASES))
def test_bad_yaml_presets_fail_in_one_line_naming_file_and_line(tmp_path, monkeypatch, case):
    text, named = YAML_CASES[case]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_bytes(text)
    result = runner.invoke(app, ["config", "a.yaml"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("error: a.yaml") and named in result.output


def test_extends_is_relative_to_its_yaml_and_set_section_merges(tmp_path, monkeypatch):  # A36, A22
    (tmp_path / "cfg").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "cfg" / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "cfg" / "b.yaml").write_text("extends: bandit-cpu\ntrain: {lr: 0.002}\n")
    monkeypatch.chdir(tmp_path / "sub")
    assert load_config("../cfg/a.yaml").train.lr == 0.002
    preset = load_config("bandit-cpu")
    merged = load_config("bandit-cpu", ["train={lr: 0.002}"])
    assert merged.train.lr == 0.002
    assert (merged.train.num_steps, merged.train.device, merged.train.batch_size) == (
        preset.train.num_steps, preset.train.device, preset.train.batch_size)


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
    from icrl.errors import IcrlError, ModelFileError
    from icrl.models.files import load_model

    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="model.safetensors") as err:
        load_model(path)
    assert isinstance(err.value, IcrlError) and not isinstance(err.value, DatasetError)  # a model file is no dataset


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


# round 3: (what, obs kind, value, named); each refused at once
AGENT_CASES_3 = [
    ("reset", "none", 10**6, "too large"),  # API33: the size limit before anything costs time
    ("reset", "none", [np.array([1, 2]), np.array([1, 2])], "repeats"),  # API36
    ("reward", "none", 1e39, "float32"),  # API39
    ("reward", "none", 10**400, "float32"),  # API40
    ("done", "none", "yes", "done='yes'"),  # API41
    ("done", "none", float("nan"), "done=nan"),  # API42
    ("act", "discrete", "5", "obs='5'"),  # API44
    ("act", "discrete", True, "obs=True"),  # API45
    ("act", "vector", np.array([1e39, 0.0]), "float32"),  # API49
]


@pytest.mark.parametrize(("what", "obs_kind", "value", "named"), AGENT_CASES_3,
                         ids=[f"{w}-{i}" for i, (w, *_) in enumerate(AGENT_CASES_3)])
def test_agent_refuses_values_that_would_break_it_later(what, obs_kind, value, named):
    import time

    agent = _agent(obs_kind, {"none": 0, "vector": 2, "discrete": 9}[obs_kind])
    tic = time.perf_counter()
    with pytest.raises(ValueError, match=re.escape(named)):
        if what == "reset":
            agent.reset(value)
        else:
            agent.reset(3)
            if what == "act":
                agent.act(value)
            agent.act(None if obs_kind == "none" else [0.1, 0.2] if obs_kind == "vector" else 1)
            agent.observe(value) if what == "reward" else agent.observe(1.0, done=value)
    assert time.perf_counter() - tic < 5
    agent.reset([np.array([1, 2]), np.array([3, 4])])  # distinct arrays are a valid action set


@pytest.mark.parametrize(("options", "named"), [({"seed": -1}, "seed=-1"), ({"temperature": float("nan")}, "temperature"),
                                              ({"temperature": float("inf")}, "temperature")])
def test_agent_options_are_checked(options, named):
    with pytest.raises(ValueError, match=named):
        Agent(_agent().policy.model, **options)


def test_a_tiny_sampling_temperature_is_argmax_not_nan():  # B10
    from icrl.agent import InContextPolicy

    policy = InContextPolicy(_agent().policy.model, temperature=1e-300)
    policy.rng, policy.num_envs, policy.num_actions = np.random.default_rng(0), 2, np.array([3, 3])
    logits = torch.tensor([[0.1, 0.9, 0.3], [2.0, -1.0, 1.0]])
    assert policy._choose(logits).tolist() == [1, 0]


# -- the Python API: one IcrlError naming the value ---------------------------------------------
def _api(case):
    import gymnasium

    import icrl
    import icrl.envs.gym  # noqa: F401

    cfg = load_config("bandit-cpu", ["model.d_model=32", "model.num_heads=2"])
    return {
        "API02": lambda: icrl.run("bandit-cpu", "r", overrides="train.lr=0.1"),
        "API03": lambda: icrl.run(dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, num_heads=3)), "r"),
        "API05": lambda: icrl.run(cfg, "r", overrides=["model.d_model=30"]),
        "API10": lambda: icrl.eval_suite("bandit", "train", seed=-1),
        "API17": lambda: icrl.make_env("bandit"),
        "API19": lambda: icrl.load_histories("."),
        "G29": lambda: gymnasium.make("icrl/BernoulliBandit-v0", means="abc"),
        "G35": lambda: gymnasium.make("icrl/KeyDoor-v0", seed=-1),
        "teacher": lambda: icrl.make_teacher("nope"),
        "teacher options": lambda: icrl.make_teacher("ucb", zzz=1),
        "dataset path": lambda: icrl.load_histories(123),
        "preset": lambda: icrl.load_config(5),
        "suite size": lambda: icrl.eval_suite("bandit", "train", 0, num_tasks=10**12),
        "rollout steps": lambda: icrl.rollout(icrl.make_teacher("ucb"), icrl.make_env(_tasks()), steps=2.5, seed=0),
        "rollout seed": lambda: icrl.rollout(icrl.make_teacher("ucb"), icrl.make_env(_tasks()), steps=3, seed=-1),
        "env seed": lambda: icrl.make_env(_tasks(), seed=-1),
    }[case]


def _tasks():
    from icrl.suites import eval_suite

    return eval_suite("bandit", "train", 0, num_tasks=2)


API_CASES = [("API02", "overrides='train.lr=0.1'"), ("API03", "model.num_heads=3"), ("API05", "model.num_heads=2"),
             ("API10", "seed=-1"), ("API17", "make_env('bandit')"), ("API19", "directory"), ("G29", "means='abc'"),
             ("G35", "seed=-1"), ("teacher", "teacher 'nope' is invalid: allowed"), ("teacher options", "zzz"),
             ("dataset path", "dataset path 123"), ("preset", "preset 5"), ("suite size", "num_tasks"),
             ("rollout steps", "steps must be >= 1, got 2.5"), ("rollout seed", "seed=-1"), ("env seed", "seed=-1")]


@pytest.mark.parametrize(("case", "named"), API_CASES)
def test_api_refuses_in_one_error_naming_the_value(tmp_path, monkeypatch, case, named):
    from icrl.errors import IcrlError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(IcrlError, match=re.escape(named)):
        _api(case)()
    assert not any(tmp_path.iterdir())  # refused before anything was written


# -- Gymnasium adapters -------------------------------------------------------------------------
GYM_CASES = [
    ("icrl/BernoulliBandit-v0", {"means": [0.5, 1.5]}, None, "means"),
    ("icrl/BernoulliBandit-v0", {"num_arms": 0}, None, "num_arms"),
    ("icrl/BernoulliBandit-v0", {"num_arms": 3}, 7, "action 7"),
    ("icrl/BernoulliBandit-v0", {"num_arms": 3}, 1.0, "integers"),
    ("icrl/ContextualBandit-v0", {"arm_features": [[np.nan, 0.0]]}, None, "arm_features"),
    ("icrl/DarkRoom-v0", {}, -1, "action -1"),
    ("icrl/ContextualBandit-v0", {"arm_features": "abc"}, None, "arm_features='abc'"),
    ("icrl/BernoulliBandit-v0", {"num_arms": 10**9}, None, "num_arms"),  # refused before it takes 8 GB
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


# -- round 3: damaged or odd files of a run, a dataset or a comparison ------------------------------
RUN = ["data.num_tasks=20", "data.batch_tasks=20", "data.steps=40", "model.d_model=16", "model.num_layers=1",
       "model.num_heads=2", "model.seq_len=24", "train.num_steps=20", "train.batch_size=4", "train.checkpoint_every=10",
       "train.device=cpu", "train.compile=false", "eval.num_tasks=2", "eval.steps=30", "eval.suites=train"]
SETS = [arg for item in RUN for arg in ("--set", item)]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A folder with ``data/`` and a finished tiny run ``runs/ref`` (copy it to change it)."""
    import os

    folder = tmp_path_factory.mktemp("project")
    before = os.getcwd()
    os.chdir(folder)
    try:
        assert runner.invoke(app, ["run", "bandit-cpu", "--run-dir", "runs/ref", *SETS]).exit_code == 0
    finally:
        os.chdir(before)
    return folder


def _unfinish(d):
    for name in ("eval.json", "report.md", "curves.png", "model.safetensors", "checkpoints/step-0000020.safetensors",
                 "checkpoints/step-0000020.pt"):
        (d / "runs/ref" / name).unlink()


def _model_meta(change):
    def damage(d):
        from safetensors.torch import load_file, save_file

        path = d / "runs/ref/model.safetensors"
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = dict(f.metadata())
        state = load_file(str(path))
        change(meta, state)
        save_file(state, str(path), metadata=meta)
    return damage


def _cfg_d_model(meta, state):
    import json

    cfg = json.loads(meta["config"])
    cfg["model"]["d_model"] = -4
    meta["config"] = json.dumps(cfg)


def _h5_config_list(d):
    import shutil

    data = next((d / "data").glob("*.h5"))
    shutil.copy(data, d / "x.h5")
    _attr(d / "x.h5", "config", "[1, 2]")


def _no_optimizer(d):
    """Killed after the step-20 checkpoint, whose trainer state then lost its optimizer."""
    for name in ("eval.json", "report.md", "curves.png", "model.safetensors"):
        (d / "runs/ref" / name).unlink()
    path = d / "runs/ref/checkpoints/step-0000020.pt"
    state = torch.load(path, weights_only=False)
    del state["optimizer"]
    torch.save(state, path)


def _eval_json(change):
    def damage(d):
        import json

        path = d / "runs/ref/eval.json"
        results = json.loads(path.read_text())
        change(results)
        path.write_text(json.dumps(results))
    return damage


def _write(name, text):
    return lambda d: (d / name).parent.mkdir(parents=True, exist_ok=True) or (d / name).write_text(text)


REF = ["--run-dir", "runs/ref", *SETS]
FILE_CASES_3 = {  # id: (setup, command, named in the one error line; None: the command succeeds)
    "C03 dataset a directory": (lambda d: (d / "somedir").mkdir(), ["train", "bandit-cpu", "--run-dir", "r", *SETS, "--data", "somedir"], "somedir: a directory"),
    "C07 dataset config a list": (_h5_config_list, ["train", "bandit-cpu", "--run-dir", "r", *SETS, "--data", "x.h5"], "x.h5: corrupt config attribute"),
    "C10 model config not JSON": (_model_meta(lambda m, s: m.update(config="{{{")), ["eval", "runs/ref", "--force"], "model.safetensors: a damaged icrl model"),
    "C11 model d_model=-4": (_model_meta(_cfg_d_model), ["eval", "runs/ref", "--force"], "model.d_model=-4"),
    "C12 weight of the wrong shape": (_model_meta(lambda m, s: s.update({k: s[k][:1] for k in list(s)[:1]})), ["eval", "runs/ref", "--force"], "wrong shape"),
    "C13 model without config": (_model_meta(lambda m, s: m.pop("config")), ["eval", "runs/ref", "--force"], "no 'config'"),
    "C16 config.json garbage": (lambda d: ((d / "runs/ref/eval.json").unlink(), (d / "runs/ref/config.json").write_text("{{{ nonsense")), ["run", "bandit-cpu", *REF, "--resume"], "config.json: not a run config"),
    "C17 config.json a list": (lambda d: (_unfinish(d), (d / "runs/ref/config.json").write_text("[1,2]")), ["run", "bandit-cpu", *REF, "--resume"], "config.json: not a run config"),
    "C18 dataset.json garbage": (lambda d: (_unfinish(d), (d / "runs/ref/dataset.json").write_text("garbage")), ["run", "bandit-cpu", *REF, "--resume"], "dataset.json: not a dataset record"),
    "C19 metrics cut mid-line": (lambda d: (_unfinish(d), (d / "runs/ref/metrics.jsonl").write_text('{"loss": 1.0, "step": 5}\n{"loss": 1.2, "ste')), ["run", "bandit-cpu", *REF, "--resume"], None),
    "C20 run dir a file": (_write("afile", "hi"), ["run", "bandit-cpu", "--run-dir", "afile", *SETS], "afile: is a file"),
    "C21 run dir below a file": (_write("afile", "hi"), ["run", "bandit-cpu", "--run-dir", "afile/sub", *SETS], "afile: is a file"),
    "C22 run dir a symlink loop": (lambda d: (d / "loop").symlink_to("loop"), ["run", "bandit-cpu", "--run-dir", "loop", *SETS], "loop: a symlink"),
    "checkpoints a file": (_write("r/checkpoints", "x"), ["run", "bandit-cpu", "--run-dir", "r", *SETS], "r/checkpoints: is a file"),
    "metrics.jsonl a folder": (lambda d: (d / "r/metrics.jsonl").mkdir(parents=True), ["run", "bandit-cpu", "--run-dir", "r", *SETS], "r/metrics.jsonl: is a directory"),
    "C46 resume with another data config": (_unfinish, ["run", "bandit-cpu", *REF, "--set", "data.num_tasks=15", "--resume"], "data.num_tasks"),
    "C48 data/ a file": (lambda d: __import__("shutil").rmtree(d / "data") or (d / "data").write_text("x"), ["run", "bandit-cpu", "--run-dir", "r", *SETS], "data: is a file"),
    "C52 trainer state without optimizer": (_no_optimizer, ["run", "bandit-cpu", *REF, "--resume"], "skipped"),
    "C55 project folder moved": (_unfinish, ["run", "bandit-cpu", *REF, "--resume"], None),
    "C59 config.json gone, lr changed": (lambda d: (_unfinish(d), (d / "runs/ref/config.json").unlink()), ["run", "bandit-cpu", *REF, "--set", "train.lr=0.01", "--resume"], "train.lr"),
    "P04 eval.json without env": (_write("runs/x/eval.json", '{"suites": {}, "protocol": {"policy": "x"}}'), ["compare", "runs/x"], "no 'env' field"),
    "P05 eval.json suites a list": (_write("runs/x/eval.json", '{"env": "bandit", "metric": "r", "suites": [], "protocol": {"policy": "x"}}'), ["compare", "runs/x"], "suites is []"),
    "P11 figures a file": (_write("afile", "x"), ["compare", "runs/ref", "--figures", "afile", "--reps", "100"], "afile: is a file"),
    "P12 sweep.json seed abc": (_write("runs/ref/sweep.json", '{"preset": "bandit-cpu", "variant": "base", "seed": "abc"}'), ["compare", "runs/ref", "--reps", "100"], "sweep.json: seed is 'abc'"),
    "P14 NaN score": (_eval_json(lambda r: r["suites"]["train"]["headless_ad"].update(normalized=float("nan"))), ["compare", "runs/ref", "--reps", "100"], "normalized is nan"),
    "P17 string score": (_eval_json(lambda r: r["suites"]["train"]["headless_ad"].update(final="x")), ["compare", "runs/ref", "--reps", "100"], "final is 'x'"),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES_3))
def test_damaged_run_files_fail_in_one_line_naming_them(tmp_path, monkeypatch, finished_run, case):
    import shutil
    import warnings

    setup, args, named = FILE_CASES_3[case]
    shutil.copytree(finished_run, tmp_path / "p", symlinks=True)  # a moved copy of the project
    monkeypatch.chdir(tmp_path / "p")
    setup(tmp_path / "p")
    datasets = sorted((tmp_path / "p" / "data").glob("*.h5")) if (tmp_path / "p" / "data").is_dir() else []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = runner.invoke(app, args)
    said = result.output + "".join(str(w.message) for w in caught)
    assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception, SystemExit)), said
    if named is None or named == "skipped":
        assert result.exit_code == 0, said
        assert (tmp_path / "p/runs/ref/report.md").exists()
        if named:
            assert "skipped unreadable checkpoint" in said and "step-0000020.pt" in said, said
        return
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(errors) == 1 and named in errors[0], said
    if (tmp_path / "p" / "data").is_dir():  # refused before any dataset was generated
        assert sorted((tmp_path / "p" / "data").glob("*.h5")) == datasets


def test_compare_out_json_writes_json_there_and_the_report_beside_it(tmp_path, monkeypatch, finished_run):  # P10
    import json

    monkeypatch.chdir(finished_run)
    result = runner.invoke(app, ["compare", "runs/ref", "--out", str(tmp_path / "c.json"), "--reps", "100"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "c.json").read_text())["runs"] == ["runs/ref"]
    assert (tmp_path / "c.md").read_text().startswith("#")


def test_there_are_at_least_140_cases():
    total = (len(CLI_CASES) + len(CONFIG_CASES) + len(FILE_CASES) + 3 + len(AGENT_CASES) + 1 + len(GYM_CASES)
             + len(YAML_CASES) + 1 + len(AGENT_CASES_3) + 3 + 1 + len(API_CASES) + len(FILE_CASES_3) + 1)
    assert total >= 140, total


def test_yaml_anchors_and_merge_keys_still_load():
    from icrl.config import parse_yaml

    assert parse_yaml("a: &x {b: 1}\nc:\n  <<: *x\n  b: 2\n", "t") == {"a": {"b": 1}, "c": {"b": 2}}
