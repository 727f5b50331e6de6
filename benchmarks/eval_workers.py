"""In-context evaluation of several suites in worker processes against one process.

The preset's model (random weights: speed does not depend on them) plays ``--suites`` as
``icrl eval`` plays them (``evaluate_model``: per-task random streams, the paper's protocol),
first in this process on ``--threads`` intra-op threads (the `-cpu` presets' ``eval.threads: 0``
is torch's default, all cores), the baseline, then with ``eval.workers=N`` (N forked processes,
one thread each), twice each in turn; the faster of each pair counts. It also checks that both
give the same scores. Run it alone: another busy process changes both figures.

    python benchmarks/eval_workers.py [--preset keydoor-cpu] [--suites train_train,all_test]
        [--tasks 100] [--episodes 4] [--steps 100] [--workers 2] [--threads 2]

Prints one JSON line:
{"benchmark": "eval_workers", "preset": ..., "one_process_s": ..., "workers": N, "workers_s": ...,
 "speedup": ..., "same_scores": true}
where speedup = one process's seconds over the workers' (> 1: the workers are faster).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from icrl.config import load_config
from icrl.evaluate import evaluate_model
from icrl.models.files import build_model
from icrl.suites import env_spec


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="keydoor-cpu")
    parser.add_argument("--suites", default=None, help="comma-separated (default: the first four eval suites)")
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--episodes", type=int, default=4, help="episodes per task (episodic environments)")
    parser.add_argument("--steps", type=int, default=100, help="steps per task (bandits)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of the one-process baseline")
    args = parser.parse_args(argv)
    if args.workers < 2 or args.threads < 1 or args.tasks < 1:
        parser.error(f"--workers must be >= 2, --threads and --tasks >= 1; got {args.workers}, {args.threads}, {args.tasks}")

    spec = env_spec(load_config(args.preset).env)
    horizon = f"eval.episodes={args.episodes}" if spec.default_horizon.episodes else f"eval.steps={args.steps}"
    cfg = load_config(args.preset, [horizon, f"eval.num_tasks={args.tasks}", "eval.tune=false"])
    suites = args.suites.split(",") if args.suites else list(spec.eval_suites[:4])
    torch.manual_seed(0)
    model = build_model(cfg).eval()

    def timed(workers: int) -> tuple[float, dict]:
        cfg.eval.workers = workers
        torch.set_num_threads(args.threads)
        tic = time.perf_counter()
        results, _ = evaluate_model(model, cfg, suites=suites, device="cpu", progress=False)
        return time.perf_counter() - tic, results

    best, scores = {1: float("inf"), args.workers: float("inf")}, {}
    for _ in range(2):
        for workers in best:
            seconds, scores[workers] = timed(workers)
            best[workers] = min(best[workers], seconds)
    print(json.dumps({"benchmark": "eval_workers", "preset": args.preset, "suites": suites, "tasks": args.tasks,
                      "horizon": horizon, "threads": args.threads, "one_process_s": round(best[1], 2),
                      "workers": args.workers, "workers_s": round(best[args.workers], 2),
                      "speedup": round(best[1] / best[args.workers], 3),
                      "same_scores": scores[1] == scores[args.workers]}))


if __name__ == "__main__":
    main()
