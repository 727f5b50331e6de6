"""Training: exact resume, refusing to overwrite runs, model files, and a small honest learning test."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from icrl.config import ConfigError, load_config
from icrl.data import WindowSampler, load_histories
from icrl.data.generate import generate_dataset
from icrl.data.history import DatasetError
from icrl.errors import ModelFileError
from icrl.evaluate import evaluate_model, normalize, run_baselines
from icrl.models.files import MODEL_FORMAT, build_model, latest_checkpoint, load_model, save_model
from icrl.models.model import sample_action_embeddings
from icrl.protocol import Protocol
from icrl.train import Trainer, make_optimizer

TINY = ["model.d_model=32", "model.num_layers=2", "model.num_heads=4", "model.action_dim=32",
        "model.dropout=0.1", "model.attn_dropout=0.1",  # dropout: the torch random state must resume too
        "train.device=cpu", "train.batch_size=4", "train.log_every=5", "train.num_steps=20",
        "train.checkpoint_every=10", "train.eval_every=0", "train.lr=3e-3"]


def tiny_config(small_config, *extra, layout="compact", seq_len=24):
    base = [t for t in TINY if not ("model.kind=ad" in extra and t.startswith("model.action_dim"))]  # AD has no d_a
    return small_config("bandit", *base, "eval.steps=40", f"model.layout={layout}", f"model.seq_len={seq_len}", *extra)


def params(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_params(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# -- 6. checkpoints and resume ----------------------------------------------------------------
@pytest.mark.parametrize("kind,layout,extra", [("headless_ad", "interleaved", ()), ("ad", "compact", ()),
                                               ("headless_ad", "compact", ("train.loss_readouts=7",
                                                                           "model.context_features=[state_action]"))])
def test_resume_gives_the_parameters_of_an_uninterrupted_run(tmp_path, small_config, small_dataset_path, kind, layout,
                                                            extra):
    """Also with ``train.loss_readouts``: the readout steps drawn after a resume are those of the
    uninterrupted run (their generator is in the trainer state)."""
    cfg = tiny_config(small_config, f"model.kind={kind}", *extra, layout=layout)
    data = small_dataset_path("bandit")

    whole = Trainer(cfg, tmp_path / "whole", data, progress=False)
    final = whole.run()
    assert final == tmp_path / "whole" / "model.safetensors"
    expected = params(whole.model)
    ckpts = sorted(p.name for p in (tmp_path / "whole" / "checkpoints").iterdir())
    assert ckpts == ["step-0000010.pt", "step-0000010.safetensors", "step-0000020.pt", "step-0000020.safetensors"]
    rows = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [5, 10, 15, 20]

    # the same run, stopped after 10 steps (a crash right after a checkpoint) ...
    first = Trainer(cfg, tmp_path / "split", data, progress=False)
    for _ in range(10):
        first.train_step()
    first.save_checkpoint()
    halfway = params(first.model)
    assert_same_params(halfway, load_file(str(tmp_path / "whole" / "checkpoints" / "step-0000010.safetensors")))
    del first
    (tmp_path / "split" / "metrics.jsonl").write_text(
        '{"step": 10, "note": "before the crash"}\n{"step": 13, "note": "logged after the checkpoint, then killed"}\n')
    torch.manual_seed(1234)  # the process state after a restart is anything
    np.random.seed(1234)

    # ... and resumed in a new Trainer
    second = Trainer(cfg, tmp_path / "split", data, resume=True, progress=False)
    assert second.step == 10
    second.run()
    assert second.step == 20
    got = params(second.model)
    assert any(not torch.equal(got[k], halfway[k]) for k in got)  # it did train after resuming
    assert_same_params(got, expected)
    assert_same_params(load_file(str(tmp_path / "split" / "model.safetensors")), expected)
    lines = (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    assert lines[0] == '{"step": 10, "note": "before the crash"}'  # a resumed run appends to its log
    assert [json.loads(r)["step"] for r in lines[1:]] == [15, 20]  # rows past the checkpoint were dropped


def test_resume_uses_the_newest_complete_checkpoint(tmp_path, small_config, small_dataset_path):
    cfg = tiny_config(small_config)
    data = small_dataset_path("bandit")
    Trainer(cfg, tmp_path, data, progress=False).run()
    # a checkpoint whose model file never appeared (a crash while writing) is skipped
    (tmp_path / "checkpoints" / "step-0000020.safetensors").unlink()
    (tmp_path / "model.safetensors").unlink()
    step, model_file, state_file = latest_checkpoint(tmp_path)
    assert step == 10 and model_file.name == "step-0000010.safetensors"
    assert Trainer(cfg, tmp_path, data, resume=True, progress=False).step == 10


@pytest.mark.parametrize("damage", ["truncated_model", "truncated_state", "random_model"])
def test_resume_falls_back_past_a_damaged_newest_checkpoint(tmp_path, small_config, small_dataset_path, damage):
    """A damaged newest checkpoint is skipped with a warning naming it; the previous one is used,
    and the resumed run ends with the parameters of an unbroken one."""
    cfg = tiny_config(small_config)
    data = small_dataset_path("bandit")
    Trainer(cfg, tmp_path / "whole", data, progress=False).run()
    unbroken = load_file(str(tmp_path / "whole" / "model.safetensors"))

    Trainer(cfg, tmp_path, data, progress=False).run()
    (tmp_path / "model.safetensors").unlink()
    ckpt = tmp_path / "checkpoints"
    target = ckpt / ("step-0000020.pt" if damage == "truncated_state" else "step-0000020.safetensors")
    raw = target.read_bytes()
    target.write_bytes(raw[: len(raw) // 2] if damage.startswith("truncated") else bytes(len(raw)))
    with pytest.warns(UserWarning, match=r"skipped unreadable checkpoint\(s\) step-0000020.*resuming from step 10"):
        trainer = Trainer(cfg, tmp_path, data, resume=True, progress=False)
    assert trainer.step == 10
    trainer.run()
    for name, value in load_file(str(tmp_path / "model.safetensors")).items():
        assert torch.equal(value, unbroken[name]), name


def test_resume_refuses_a_checkpoint_of_another_architecture_in_one_line(tmp_path, small_config, small_dataset_path):
    """The checkpoint's own metadata is checked, not only the run's config.json."""
    cfg = tiny_config(small_config)
    data = small_dataset_path("bandit")
    trainer = Trainer(cfg, tmp_path, data, progress=False)
    trainer.train_step()
    trainer.save_checkpoint()
    other_cfg = tiny_config(small_config, "model.d_model=64")
    save_model(build_model(other_cfg), other_cfg, tmp_path / "checkpoints" / "step-0000001.safetensors")
    with pytest.raises(ConfigError, match=r"step-0000001.safetensors holds a bandit headless_ad model of another config.*d_model"):
        Trainer(cfg, tmp_path, data, resume=True, progress=False)


def test_runs_are_never_overwritten(tmp_path, small_config, small_dataset_path):
    cfg = tiny_config(small_config)
    data = small_dataset_path("bandit")
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        Trainer(cfg, tmp_path / "run", data, resume=True, progress=False)
    trainer = Trainer(cfg, tmp_path / "run", data, progress=False)
    for _ in range(3):
        trainer.train_step()
    trainer.save_checkpoint()
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*") if p.is_file()}
    with pytest.raises(FileExistsError, match="resume"):
        Trainer(cfg, tmp_path / "run", data, progress=False)
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert after == before  # nothing deleted or rewritten

    other = tiny_config(small_config, "model.d_model=64")
    with pytest.raises(ConfigError, match="d_model"):
        Trainer(other, tmp_path / "run", data, resume=True, progress=False)
    # a finished run (only its final model left) is protected too
    done = tmp_path / "done"
    done.mkdir()
    save_model(trainer.model, cfg, done / "model.safetensors")
    with pytest.raises(FileExistsError):
        Trainer(cfg, done, data, progress=False)


def test_trainer_rejects_models_too_small_for_the_dataset(tmp_path, small_config, small_dataset_path):
    data = small_dataset_path("bandit")
    with pytest.raises(ConfigError, match="model.action_dim=8 is invalid"):
        small_config("bandit", *TINY, "model.action_dim=8", "model.seq_len=24")
    small = load_config("bandit", [*TINY, "model.action_dim=8", "model.seq_len=24"], validate=False)
    with pytest.raises(ConfigError, match="model.action_dim=8"):
        Trainer(small, tmp_path / "a", data, progress=False)
    ad = load_config("bandit", [*TINY, "model.kind=ad", "model.head_size=8", "model.seq_len=24"], validate=False)
    with pytest.raises(ConfigError, match="model.head_size=8"):
        Trainer(ad, tmp_path / "b", data, progress=False)
    darkroom = small_config("darkroom", *TINY, "model.seq_len=24", "model.action_dim=64")
    with pytest.raises(DatasetError, match="bandit dataset"):
        Trainer(darkroom, tmp_path / "c", data, progress=False)


def test_model_files(tmp_path, small_config):
    cfg = tiny_config(small_config)
    torch.manual_seed(0)
    model = build_model(cfg)
    path = tmp_path / "m.safetensors"
    save_model(model, cfg, path)
    loaded, loaded_cfg = load_model(path)
    assert loaded_cfg.to_dict() == cfg.to_dict()
    assert_same_params(params(loaded), params(model))

    # the right metadata but weights of another shape of model (e.g. an older icrl's layout)
    state = load_file(str(path))
    state.pop(sorted(state)[0])
    stale = tmp_path / "stale.safetensors"
    save_file(state, str(stale), metadata={"format": MODEL_FORMAT, "config": json.dumps(cfg.to_dict())})
    with pytest.raises(ModelFileError, match="stale.safetensors.*do not fit.*missing"):
        load_model(stale)

    foreign = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(3)}, str(foreign))
    with pytest.raises(ModelFileError, match="weights.safetensors.*not an icrl model"):
        load_model(foreign)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(ModelFileError, match="garbage.safetensors"):
        load_model(garbage)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty.safetensors"):
        load_model(empty)
    with pytest.raises(FileNotFoundError, match="missing"):
        load_model(tmp_path / "missing.safetensors")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path)  # a directory without a model or checkpoint


@pytest.mark.parametrize("kind,layout,loss", [("headless_ad", "interleaved", "infonce"), ("headless_ad", "compact", "mse"),
                                              ("ad", "interleaved", "infonce")])
def test_training_fits_a_fixed_batch(small_config, small_dataset_path, kind, layout, loss):
    """The gradient path works: repeated optimiser steps on one batch drive its loss well down."""
    cfg = tiny_config(small_config, f"model.kind={kind}", *([f"model.loss={loss}"] if kind == "headless_ad" else []),
                      "model.dropout=0.0",
                      "model.attn_dropout=0.0", "train.num_steps=60", "train.warmup_fraction=0.0", layout=layout)
    dataset = load_histories(small_dataset_path("bandit"))
    window = WindowSampler(dataset, cfg.model.seq_len, seed=0).sample(8)
    batch = {k: torch.as_tensor(window[k]) for k in ("observations", "actions", "rewards", "num_actions")}
    batch["actions"] = batch["actions"].long()
    torch.manual_seed(0)
    model = build_model(cfg).train()
    optimizer, scheduler = make_optimizer(model, cfg, torch.device("cpu"))
    emb = None
    if kind == "headless_ad":
        emb = sample_action_embeddings(8, dataset.action_sets.shape[1], cfg.model.action_dim, "orthonormal")
    losses = []
    for _ in range(60):
        value, _ = model.loss(batch, emb)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(value.detach()))
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3]), losses[::10]


# -- 7. an honest learning test ---------------------------------------------------------------
def _normalized(model, cfg, suite, temperature):
    """The model's and the baselines' final regret on ``suite`` over ``cfg.eval.steps`` steps."""
    protocol = Protocol("sample", temperature if temperature is not None else cfg.model.tau)
    results, skipped = evaluate_model(model, cfg, suites=[suite], progress=False, rows={cfg.model.kind: protocol})
    assert not skipped
    baselines = run_baselines("bandit", seed=cfg.eval.seed, num_tasks=cfg.eval.num_tasks, suites=[suite],
                              train_seed=cfg.data.seed, steps=cfg.eval.steps, progress=False)["suites"]
    row = {**results[suite], **baselines[suite]}
    normalize({suite: row}, "bandit", "thompson")
    return row


def test_headless_ad_learns_bandits_in_context(tmp_path):
    """A small Headless-AD trained for ~30 s on Thompson-sampling histories beats random clearly.

    Seen on 2 shared CPU cores (4 seeds): ~25-35 s in all; normalised final regret on ``train``
    0.77-0.99 at temperature 0.5 and 0.52-0.73 at the default temperature (tau); on ``all_new``
    (no parity prior to exploit) 0.76-0.82 at temperature 0.5, and the regret of the last 20
    steps is about half that of the first 20 (in-context improvement; 1.0 for a random policy).
    A model trained this briefly underfits the teacher's action distribution, so sampling at tau
    over-explores; a lower temperature is where its learning shows best.
    """
    tic = time.perf_counter()
    cfg = load_config("bandit-cpu", [
        "data.num_tasks=1000", "data.steps=100", "data.batch_tasks=1000",
        "model.seq_len=100", "model.d_model=64", "model.num_heads=4", "model.num_layers=2",
        "train.num_steps=500", "train.batch_size=16", "train.lr=2e-3", "train.checkpoint_every=1000",
        "train.log_every=100", "eval.steps=100", "eval.num_tasks=50", "train.compile=false",
    ])
    data = generate_dataset(cfg, tmp_path / "data.h5", progress=False)
    trainer = Trainer(cfg, tmp_path / "run", data, progress=False)
    trainer.run()
    model = trainer.model

    sharp = _normalized(model, cfg, "train", 0.5)
    default = _normalized(model, cfg, "train", None)
    new = _normalized(model, cfg, "all_new", 0.5)
    new_default = _normalized(model, cfg, "all_new", None)
    curve = new_default["headless_ad"]["curve"]
    first, last = curve[19], curve[-1] - curve[-21]
    summary = {
        "train@0.5": round(sharp["headless_ad"]["normalized"], 2),
        "train@tau": round(default["headless_ad"]["normalized"], 2),
        "all_new@0.5": round(new["headless_ad"]["normalized"], 2),
        "regret first/last 20 steps": (round(first, 2), round(last, 2)),
        "random/thompson": (round(sharp["random"]["final"], 1), round(sharp["thompson"]["final"], 1)),
        "seconds": round(time.perf_counter() - tic),
    }
    print("learning test:", summary)
    assert sharp["headless_ad"]["normalized"] >= 0.6, summary
    assert default["headless_ad"]["normalized"] >= 0.35, summary
    assert new["headless_ad"]["normalized"] >= 0.5, summary
    assert last <= 0.75 * first, summary


@pytest.mark.slow
def test_the_papers_plain_recipe_learns_bandits_in_context_at_toy_size(tmp_path):
    """The paper's recipe, none of the laptop switches (interleaved tokens, no context features,
    sampled-action targets, InfoNCE), at toy size: it beats random and improves within its context.

    Weak, as docs/quality.md measures the plain recipe at CPU budgets: the thresholds say "learns
    something in context", not "reaches Thompson sampling". Sampled at half of tau, a protocol
    fixed here, not tuned. Seen: 70 s on 2 cores (AVX-512).
    """
    cfg = load_config("bandit-cpu", [
        "model.layout=interleaved", "model.action_stats=false", "model.context_features=[]", "train.compile=false", "data.num_tasks=1000", "data.steps=100",
        "data.batch_tasks=1000", "model.seq_len=100", "model.d_model=64", "model.num_heads=4",
        "model.num_layers=2", "train.num_steps=800", "train.batch_size=16", "train.lr=2e-3",
        "train.checkpoint_every=1000", "train.log_every=100", "eval.steps=100", "eval.num_tasks=50",
    ])
    assert cfg.model.layout == "interleaved" and not cfg.model.action_stats and not cfg.model.context_features
    data = generate_dataset(cfg, tmp_path / "data.h5", progress=False)
    trainer = Trainer(cfg, tmp_path / "run", data, progress=False)
    trainer.run()
    row = _normalized(trainer.model, cfg, "train", cfg.model.tau / 2)
    curve = row["headless_ad"]["curve"]
    first, last = curve[19], curve[-1] - curve[-21]
    summary = {"train@tau/2": round(row["headless_ad"]["normalized"], 2), "regret first/last 20": (round(first, 2), round(last, 2))}
    print("plain recipe learning test:", summary)
    assert row["headless_ad"]["normalized"] >= 0.25, summary  # seen: 0.39 (random play: 0)
    assert last <= 0.85 * first, summary  # seen: 5.89 vs 7.84 (a random policy: equal)


def test_compile_without_a_cpp_compiler_trains_eagerly_with_a_warning(tmp_path, small_config, small_dataset_path,
                                                                      monkeypatch):
    """A CPU without a C++ compiler cannot run torch.compile's inductor: ``train.compile=true``
    then warns and trains the same model eagerly, instead of failing at the first step."""
    import torch._inductor.config as inductor_config

    monkeypatch.setattr(inductor_config.cpp, "cxx", ("/no/such/compiler",))
    cfg = tiny_config(small_config, "train.compile=true", "model.dropout=0.0", "model.attn_dropout=0.0")
    with pytest.warns(UserWarning, match="no working C\\+\\+ compiler.*training without compiling"):
        trainer = Trainer(cfg, tmp_path / "compiled", small_dataset_path("bandit"), progress=False)
    assert not trainer.compiled and trainer.forward is trainer.model
    eager = Trainer(tiny_config(small_config, "model.dropout=0.0", "model.attn_dropout=0.0"), tmp_path / "eager",
                    small_dataset_path("bandit"), progress=False)
    assert [float(trainer.train_step()["loss"]) for _ in range(2)] == [float(eager.train_step()["loss"]) for _ in range(2)]


RECIPE = ("model.context_features=[state_action,episode_effects,episode_return]", "model.transition_loss=1.0")


@pytest.mark.slow
@pytest.mark.parametrize("layout,recipe", [("interleaved", ()), ("compact", ()), ("compact", RECIPE)])
def test_compiled_training_matches_eager(tmp_path, small_config, small_dataset_path, layout, recipe):
    """``train.compile=true`` runs the same computation (checked on CPU; compiling takes a minute).
    Also with the general CPU recipe's blocks and transition loss on the bandit, where that loss
    has no embedding to train (its compiled backward used to fail there)."""
    losses = {}
    for compiled in (False, True):
        cfg = tiny_config(small_config, f"train.compile={str(compiled).lower()}", "model.dropout=0.0",
                          "model.attn_dropout=0.0", *recipe, layout=layout)
        trainer = Trainer(cfg, tmp_path / f"run-{compiled}", small_dataset_path("bandit"), progress=False)
        losses[compiled] = [float(trainer.train_step()["loss"]) for _ in range(3)]
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4)


@pytest.mark.slow
def test_headless_ad_learns_darkroom_with_unseen_actions_from_explore_replay_histories(tmp_path):
    """The darkroom-cpu recipe at 80% of its steps learns unseen compound actions in context.

    The model is trained on the 50 train actions only, then evaluated in context (60 episodes) on
    75 actions it never saw and on all 125; random play scores 0.17-0.32 there. Seen: 0.725 and
    0.60, about 2 minutes on 2 cores.
    """
    cfg = load_config("darkroom-cpu", ["train.num_steps=1200", "train.checkpoint_every=2000",
                                       "eval.num_tasks=40", "eval.episodes=60"])
    data = generate_dataset(cfg, tmp_path / "data.h5", progress=False)
    trainer = Trainer(cfg, tmp_path / "run", data, progress=False)
    trainer.run()
    results, skipped = evaluate_model(trainer.model, cfg, suites=["test_test", "all_train"], progress=False)
    success = {suite: row[cfg.model.kind]["final"] for suite, row in results.items()}
    print("darkroom learning test:", success)
    assert not skipped and min(success.values()) >= 0.5, success


def test_bf16_autocast_on_cpu_is_used_when_asked_and_trains(tmp_path, small_config, small_dataset_path):
    """train.amp=bf16 is honoured on CPU (it used to be silently ignored there); auto stays off."""
    from icrl.runtime import use_bf16

    cpu = torch.device("cpu")
    assert not use_bf16(small_config("bandit", "train.amp=auto"), cpu)
    cfg = small_config("bandit", "train.amp=bf16", "model.d_model=32", "model.num_heads=4", "model.seq_len=20",
                       "model.layout=compact", "model.action_stats=true")
    trainer = Trainer(cfg, tmp_path / "run", small_dataset_path("bandit"), progress=False)
    assert trainer.bf16
    losses = [float(trainer.train_step()["loss"]) for _ in range(5)]
    assert np.isfinite(losses).all() and all(p.dtype == torch.float32 for p in trainer.model.parameters())


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "nan", "inf"])
def test_non_finite_config_numbers_are_refused(value):
    with pytest.raises(ConfigError, match="train.lr.*finite"):
        load_config("bandit-cpu", [f"train.lr={value}"])


def test_training_that_diverges_stops_with_a_clear_error_and_keeps_the_good_checkpoint(
        tmp_path, small_config, small_dataset_path):
    from icrl.train import TrainingDiverged

    cfg = small_config("bandit", "model.d_model=32", "model.num_heads=4", "model.seq_len=20", "model.layout=compact",
                       "train.num_steps=6", "train.log_every=2", "train.checkpoint_every=2")
    trainer = Trainer(cfg, tmp_path / "run", small_dataset_path("bandit"), progress=False)
    step = trainer.train_step

    def poisoned():  # a healthy first checkpoint, then the weights turn to NaN
        metrics = step()
        if trainer.step >= 3:
            with torch.no_grad():
                next(trainer.model.parameters()).fill_(float("nan"))
        return metrics

    trainer.train_step = poisoned
    with pytest.raises(TrainingDiverged, match=r"not finite; the last good checkpoint is .*step-0000002"):
        trainer.run()
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == [
        "step-0000002.pt", "step-0000002.safetensors"]
    assert not (tmp_path / "run" / "model.safetensors").exists()
    for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} in metrics.jsonl"))


@pytest.mark.parametrize("change", ["train.lr=0.05", "train.batch_size=8", "data.num_tasks=10", "train.seed=3"])
def test_resume_refuses_changed_training_settings_and_keeps_the_record(tmp_path, small_config, small_dataset_path, change):
    cfg = tiny_config(small_config)
    data = small_dataset_path("bandit")
    Trainer(cfg, tmp_path, data, progress=False).run()
    (tmp_path / "model.safetensors").unlink()
    record = {name: (tmp_path / name).read_bytes() for name in ("config.json", "dataset.json")}
    with pytest.raises(ConfigError, match=re.escape(f"cannot resume with changed training settings ({change.split('=')[0]}")):
        Trainer(tiny_config(small_config, change), tmp_path, data, resume=True, progress=False)
    assert {name: (tmp_path / name).read_bytes() for name in record} == record


def test_resume_refuses_another_dataset(tmp_path, small_config, small_dataset_path):
    cfg = tiny_config(small_config)
    Trainer(cfg, tmp_path, small_dataset_path("bandit"), progress=False).run()
    other = tmp_path / "other.h5"
    other.write_bytes(small_dataset_path("bandit").read_bytes())
    with pytest.raises(DatasetError, match="cannot resume on another dataset"):
        Trainer(cfg, tmp_path, other, resume=True, progress=False)


def test_resume_records_a_safe_change_with_the_step_it_took_effect(tmp_path, small_config, small_dataset_path):
    cfg = tiny_config(small_config)
    data = small_dataset_path("bandit")
    Trainer(cfg, tmp_path, data, progress=False).run()
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "checkpoints" / "step-0000020.safetensors").unlink()
    Trainer(tiny_config(small_config, "train.log_every=2", "eval.steps=30"), tmp_path, data, resume=True,
            progress=False)
    rows = [json.loads(line) for line in (tmp_path / "config_changes.jsonl").read_text().splitlines()]
    assert rows == [{"step": 10, "changes": {"eval.steps": [40, 30], "train.log_every": [5, 2]}}]
    assert json.loads((tmp_path / "config.json").read_text())["train"]["log_every"] == 2
