"""In-context evaluation speed of a preset's model on one intra-op thread against several.

The preset's model (random weights: speed does not depend on them) plays one eval suite as
``icrl eval`` plays it (per-task random streams, the paper's protocol), first on one CPU thread
(the default of ``eval.threads`` unless OMP_NUM_THREADS is set), then on ``--threads``, twice each
in turn; the faster of each pair counts. Run it alone: a second busy process turns the ratio
around (``benchmarks/inference.py --contended``).

    python benchmarks/eval_threads.py [--preset keydoor-cpu] [--suite train_train] [--tasks 100]
        [--episodes 4] [--threads 2]

Prints one JSON line:
{"benchmark": "eval_threads", "preset": ..., "one_thread_steps_per_s": ..., "threads": N,
 "threads_steps_per_s": ..., "ratio": ...}
where a step is one environment step of one task (env-steps/s) and ratio = N threads over one.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from icrl.agent import InContextPolicy
from icrl.config import load_config
from icrl.envs import make_env
from icrl.evaluate import task_seeds
from icrl.models.files import build_model
from icrl.protocol import paper_protocol
from icrl.rollout import rollout
from icrl.suites import env_spec, eval_suite


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="keydoor-cpu")
    parser.add_argument("--suite", default=None, help="default: the environment's first eval suite")
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--episodes", type=int, default=4, help="episodes per task (episodic environments)")
    parser.add_argument("--steps", type=int, default=100, help="steps per task (bandits)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.threads < 1 or args.tasks < 1:
        parser.error(f"--threads and --tasks must be >= 1, got {args.threads} and {args.tasks}")

    cfg = load_config(args.preset)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    spec = env_spec(cfg.env)
    suite = args.suite or spec.eval_suites[0]
    tasks = eval_suite(cfg.env, suite, cfg.eval.seed, args.tasks, cfg.data.seed)
    streams = task_seeds(cfg.eval.seed, cfg.env, suite, len(tasks))
    horizon = {"episodes": args.episodes} if spec.default_horizon.episodes else {"steps": args.steps}
    protocol = paper_protocol(cfg)

    def speed(threads: int) -> float:
        torch.set_num_threads(threads)
        policy = InContextPolicy(model, selection=protocol.action_selection, temperature=protocol.temperature)
        tic = time.perf_counter()
        traj = rollout(policy, make_env(tasks), task_seeds=streams, **horizon)
        return float(traj.valid.sum()) / (time.perf_counter() - tic)

    best = {1: 0.0, args.threads: 0.0}
    for _ in range(2):
        for threads in best:
            best[threads] = max(best[threads], speed(threads))
    print(json.dumps({"benchmark": "eval_threads", "preset": args.preset, "suite": suite, "tasks": args.tasks,
                      **horizon, "one_thread_steps_per_s": round(best[1], 1), "threads": args.threads,
                      "threads_steps_per_s": round(best[args.threads], 1),
                      "ratio": round(best[args.threads] / best[1], 3)}))


if __name__ == "__main__":
    main()
