"""The acting step's per-action pooling: scatter-adds against products with a one-hot.

At every acting step the context scorer (``model.context_features``) pools the window's
per-step features by the action each step took: ``Pool.sum_by_action`` (``(B, T, F)`` to
``(B, A, F)``) and ``Pool.by_action`` (weights ``(B, T', T)`` to ``(B, T', A)``) do it by
scatter-adds that read each step once. The baseline, measured in the same run, is the way it
was done before (commit e15be63): ``einsum`` with the ``(B, T, A)`` one-hot of the actions, which
reads ``A`` times as much. The preset's model (random weights: speed does not depend on them)
plays ``--suites`` as ``icrl eval`` does (one process, one thread: as each of ``eval.workers``),
first with the baseline patched in, then as the library is, twice each in turn; the faster of each
pair counts. It also checks that both give the same scores. Run it alone.

    python benchmarks/pooling.py [--preset keydoor-cpu] [--suites all_test] [--tasks 100]
        [--episodes 3] [--steps 100]

Prints one JSON line:
{"benchmark": "pooling", "preset": ..., "one_hot_s": ..., "scatter_s": ..., "speedup": ...,
 "same_scores": true}
where speedup = the one-hot baseline's seconds over the scatter-adds' (> 1: faster now).
"""

from __future__ import annotations

import argparse
import json
import time
from unittest import mock

import torch

from icrl.config import load_config
from icrl.evaluate import evaluate_model
from icrl.models.features import Pool
from icrl.models.files import build_model
from icrl.suites import env_spec


def one_hot_sum_by_action(pool: Pool, x: torch.Tensor) -> torch.Tensor:
    """The baseline of ``Pool.sum_by_action``: a product with the one-hot (made once per pool,
    as before)."""
    return torch.einsum("bta,btf->baf", pool.actions_onehot().to(x.dtype), x)


def one_hot_by_action(pool: Pool, w: torch.Tensor) -> torch.Tensor:
    """The baseline of ``Pool.by_action``: a product with the one-hot."""
    return torch.einsum("btk,bka->bta", w, pool.actions_onehot().to(w.dtype))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="keydoor-cpu")
    parser.add_argument("--suites", default="all_test", help="comma-separated eval suites")
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--episodes", type=int, default=3, help="episodes per task (episodic environments)")
    parser.add_argument("--steps", type=int, default=100, help="steps per task (bandits)")
    args = parser.parse_args(argv)
    if args.tasks < 1:
        parser.error(f"--tasks must be >= 1; got {args.tasks}")

    spec = env_spec(load_config(args.preset).env)
    horizon = f"eval.episodes={args.episodes}" if spec.default_horizon.episodes else f"eval.steps={args.steps}"
    cfg = load_config(args.preset, [horizon, f"eval.num_tasks={args.tasks}", "eval.tune=false", "eval.workers=1"])
    suites = args.suites.split(",")
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    torch.set_num_threads(1)

    def timed(baseline: bool) -> tuple[float, dict]:
        patches = [mock.patch.object(Pool, "sum_by_action", one_hot_sum_by_action),
                   mock.patch.object(Pool, "by_action", one_hot_by_action)] if baseline else []
        for p in patches:
            p.start()
        try:
            tic = time.perf_counter()
            results, _ = evaluate_model(model, cfg, suites=suites, device="cpu", progress=False)
            return time.perf_counter() - tic, results
        finally:
            for p in patches:
                p.stop()

    best, scores = {True: float("inf"), False: float("inf")}, {}
    for _ in range(2):
        for baseline in best:
            seconds, scores[baseline] = timed(baseline)
            best[baseline] = min(best[baseline], seconds)
    print(json.dumps({"benchmark": "pooling", "preset": args.preset, "suites": suites, "tasks": args.tasks,
                      "horizon": horizon, "threads": 1, "one_hot_s": round(best[True], 2),
                      "scatter_s": round(best[False], 2), "speedup": round(best[True] / best[False], 3),
                      "same_scores": scores[True] == scores[False]}))


if __name__ == "__main__":
    main()
