"""Evaluation randomness depends only on (model, suite, seed): a suite gives the same numbers run
alone, with the other suites, in chunks, or through the one-batch (GPU) path."""

from __future__ import annotations

import pytest
import torch

from icrl.config import load_config
from icrl.evaluate import evaluate_model
from icrl.models.files import build_model

TINY = ["model.d_model=32", "model.num_layers=1", "model.num_heads=2", "model.seq_len=30"]
HORIZON = {"bandit": ["eval.steps=25"], "darkroom": ["eval.episodes=3"], "keydoor": ["eval.episodes=2"]}


@pytest.mark.parametrize("env, suites", [("bandit", ["train", "num_10", "all_new"]),
                                         ("darkroom", ["perm_train_train", "test_test"]),
                                         ("keydoor", ["train_train", "all_test"])])
@pytest.mark.parametrize("kind", ["headless_ad", "ad"])
def test_a_suites_numbers_do_not_depend_on_how_it_is_run(env, suites, kind):
    extra = ["model.kind=ad", "model.head_size=125"] if kind == "ad" else []
    cfg = load_config(env, [*TINY, *HORIZON[env], "eval.num_tasks=7", "train.device=cpu", *extra])
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    target = suites[-1]

    def numbers(**kwargs):
        results, _ = evaluate_model(model, cfg, progress=False, **kwargs)
        entry = results[target][kind]
        return entry["final"], entry["curve"], entry["actions_used"]

    alone = numbers(suites=[target])
    together = numbers(suites=suites)
    batched = numbers(suites=suites, one_batch=True)
    cfg.eval.batch_size = 3
    chunked = numbers(suites=suites)
    assert alone == together == batched == chunked
    cfg.eval.batch_size = 0
    cfg.eval.seed = 1
    assert numbers(suites=[target]) != alone  # the seed does matter


@pytest.mark.parametrize("preset", ["keydoor-cpu", "contextual-cpu"])
def test_suites_played_in_worker_processes_give_the_same_numbers(preset):
    """``eval.workers=2``: the suites played by two forked processes (one thread each), the
    recipe's context scorer included, score exactly as in this process, every suite and row."""
    from icrl.evaluate import eval_workers

    horizon = ["eval.episodes=2"] if preset.startswith("keydoor") else ["eval.steps=20"]
    cfg = load_config(preset, [*TINY, *horizon, "eval.num_tasks=5", "train.device=cpu"])
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    suites = ["train_train", "test_test", "all_test"] if preset.startswith("keydoor") else ["train", "num_50", "eval"]
    serial, _ = evaluate_model(model, cfg, progress=False, suites=suites)
    threads = torch.get_num_threads()
    cfg.eval.workers = 2
    assert eval_workers(cfg, "cpu") == 2 and eval_workers(cfg, "cuda") == 1
    parallel, _ = evaluate_model(model, cfg, progress=False, suites=suites)
    assert list(parallel) == list(serial) and parallel == serial
    assert torch.get_num_threads() == threads  # the workers' one thread is theirs, not this process's


def test_eval_workers_out_of_range_is_refused():
    from icrl.config import ConfigError

    with pytest.raises(ConfigError, match=r"eval.workers=0 is invalid: allowed in \[1, 256\]"):
        load_config("bandit-cpu", ["eval.workers=0"])
