"""In-context evaluation speed: KV cache against recomputing the whole window at every step.

Same model (paper size, random weights: speed does not depend on them), same suite, same run.

* ``cached``: our policy. The prompt is encoded once; each step appends its few tokens to the
  key/value cache; when the context passes ``seq_len`` steps it drops to the newest half, which is
  re-encoded once.
* ``recompute`` (the baseline): the way earlier implementations evaluate. At every step the prompt
  and the newest ``seq_len`` steps (a sliding window) are encoded from scratch.
* ``--task-streams`` also times the cached policy as ``icrl eval`` runs it: every task draws its
  environment, sampling and action embeddings from its own random streams
  (``rollout(task_seeds=...)``), so that a suite's numbers do not depend on the batch it runs in;
  ``task_streams_cost`` is its time over the single-stream cached run's.
* ``--contended`` also times the cached policy beside one busy process (a single-threaded numpy
  matrix-product loop started for the duration of that timing), as on a shared machine:
  ``contended_steps_per_s`` and ``contended_ratio`` (contended over alone). ``icrl eval`` uses one
  intra-op CPU thread unless configured (``icrl.runtime``): measured on 2 cores, 2 threads ran
  498 env-steps/s alone but 120 contended, 1 thread 397 alone and 347 contended.
* ``--check-actions`` also times our uncached path, which recomputes at every step but keeps the
  cached policy's context rule, and checks that it chooses exactly the cached policy's actions.
  Its figure isolates the cache alone (same contexts, same work per token); on bandits, whose
  histories fit the window, it is the same policy as the baseline.

    python benchmarks/inference.py [--envs 4] [--layout interleaved] [--device cpu] [--threads N] [--check-actions]
        [--task-streams] [--contended] [--long]

Prints one JSON line per environment:
{"benchmark": "inference", "env": ..., "cached_steps_per_s": ..., "recompute_steps_per_s": ..., "speedup": ...}
where a step is one environment step of one task (env-steps/s).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

from icrl.agent import InContextPolicy
from icrl.config import load_config
from icrl.envs import make_env
from icrl.evaluate import task_seeds
from icrl.models.files import build_model
from icrl.rollout import rollout
from icrl.runtime import eval_threads, resolve_device
from icrl.suites import eval_suite

CASES = {"bandit": ("all_new", "bandit_steps"), "darkroom": ("train_test", "darkroom_steps")}

# Another user's job: one core kept busy by single-threaded matrix products until killed.
BUSY = "import numpy as np\na = np.random.rand(256, 256)\nwhile True:\n    a = a @ a\n    a /= np.abs(a).max()\n"


@contextlib.contextmanager
def busy_process():
    """A busy background process (one core) for the duration of the block; killed after it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", BUSY], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # started and busy before the timing begins
        if proc.poll() is not None:
            raise RuntimeError(f"the busy background process exited with {proc.returncode}")
        yield
    finally:
        proc.kill()
        proc.wait()


def timed_rollout(policy, tasks, steps, device, streams=None):
    env = make_env(tasks)
    if device.type == "cuda":
        torch.cuda.synchronize()
    tic = time.perf_counter()
    traj = rollout(policy, env, steps=steps, **({"task_seeds": streams} if streams else {"seed": 0}))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return traj, time.perf_counter() - tic


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, default=4, help="tasks evaluated at once")
    parser.add_argument("--layout", default="interleaved", choices=["interleaved", "compact"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bandit-steps", type=int, default=300)
    parser.add_argument("--darkroom-steps", type=int, default=300,
                        help="darkroom env steps (300: the window of 100 steps slides several times, a few "
                             "minutes on 2 CPU cores; --long: 2000, the figure of earlier reports, ~30 min)")
    parser.add_argument("--long", action="store_true", help="the long darkroom run: --darkroom-steps 2000")
    parser.add_argument("--only", choices=sorted(CASES), help="run one environment only")
    parser.add_argument("--check-actions", action="store_true",
                        help="also time the uncached path with the cached context rule and compare actions")
    parser.add_argument("--task-streams", action="store_true",
                        help="also time the cached policy with per-task random streams, as icrl eval runs it")
    parser.add_argument("--contended", action="store_true",
                        help="also time the cached policy beside a busy background process (a shared machine)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: icrl eval's rule, icrl.runtime.eval_threads: OMP_NUM_THREADS "
                             "if set, else 1; 0: torch's default)")
    args = parser.parse_args(argv)
    if args.long:
        args.darkroom_steps = 2000
    threads = args.threads if args.threads is not None else eval_threads(load_config("bandit"))
    if threads:
        torch.set_num_threads(threads)
    device = resolve_device(args.device)
    for env_name, (suite, steps_arg) in CASES.items():
        if args.only and env_name != args.only:
            continue
        steps = getattr(args, steps_arg)
        cfg = load_config(env_name, [f"model.layout={args.layout}", f"train.device={args.device}"])
        torch.manual_seed(0)
        model = build_model(cfg).to(device).eval()
        tasks = eval_suite(env_name, suite, seed=0, num_tasks=args.envs)
        amp = device.type == "cuda"
        policies = {
            "cached": dict(use_cache=True),
            "recompute": dict(use_cache=False, window="sliding"),
        }
        if args.check_actions:
            policies["same_rule"] = dict(use_cache=False)
        if args.task_streams:
            policies["task_streams"] = dict(use_cache=True)
        if args.contended:
            policies["contended"] = dict(use_cache=True)
        runs = {}
        for name, options in policies.items():
            policy = InContextPolicy(model, selection="sample", device=device, amp=amp, **options)
            streams = task_seeds(0, env_name, suite, args.envs) if name == "task_streams" else None
            timed_rollout(policy, tasks, min(steps, 5), device, streams)  # warm-up: allocator, kernels
            with busy_process() if name == "contended" else contextlib.nullcontext():
                runs[name] = timed_rollout(policy, tasks, steps, device, streams)
        env_steps = args.envs * steps
        seconds = {name: t for name, (_, t) in runs.items()}
        line = {
            "benchmark": "inference", "env": env_name, "suite": suite, "layout": args.layout,
            "device": str(device), "envs": args.envs, "steps": steps, "seq_len": cfg.model.seq_len,
            "d_model": cfg.model.d_model, "num_layers": cfg.model.num_layers, "num_heads": cfg.model.num_heads,
            "threads": torch.get_num_threads(), "baseline": "sliding window of seq_len steps, re-encoded every step",
        }
        for name, t in seconds.items():
            line[f"{name}_seconds"] = round(t, 3)
            line[f"{name}_steps_per_s"] = round(env_steps / t, 1)
        line["speedup"] = round(seconds["recompute"] / seconds["cached"], 2)
        if args.task_streams:
            line["task_streams_cost"] = round(seconds["task_streams"] / seconds["cached"], 3)
        if args.contended:  # env-steps/s beside a busy process over alone (1: unaffected)
            line["contended_ratio"] = round(seconds["cached"] / seconds["contended"], 3)
        if args.check_actions:
            line["speedup_same_rule"] = round(seconds["same_rule"] / seconds["cached"], 2)
            line["same_actions"] = bool(np.array_equal(runs["cached"][0].actions, runs["same_rule"][0].actions))
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
