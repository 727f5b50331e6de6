"""In-context evaluation speed: KV cache against recomputing the whole window at every step.

Same model (paper size, random weights: speed does not depend on them), same suite, same run.
The recompute path is our uncached policy, which re-encodes the prompt and the whole current
context at every environment step, as earlier implementations evaluate. (Earlier code slides a
full ``seq_len`` window every step; ours keeps between seq_len/2 and seq_len steps, so the
recompute figure here is if anything flattering to the baseline.) Both paths must choose the
same actions; the benchmark checks that too.

    python benchmarks/inference.py [--envs 4] [--layout interleaved] [--device cpu]

Prints one JSON line per environment:
{"benchmark": "inference", "env": ..., "cached_steps_per_s": ..., "recompute_steps_per_s": ..., "speedup": ...}
where a step is one environment step of one task (env-steps/s).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from icrl.agent import InContextPolicy
from icrl.config import load_config
from icrl.envs import make_env
from icrl.rollout import rollout
from icrl.suites import eval_suite
from icrl.train import build_model, resolve_device

CASES = {"bandit": ("all_new", "bandit_steps"), "darkroom": ("train_test", "darkroom_steps")}


def timed_rollout(policy, tasks, steps, device):
    env = make_env(tasks)
    if device.type == "cuda":
        torch.cuda.synchronize()
    tic = time.perf_counter()
    traj = rollout(policy, env, steps=steps, seed=0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return traj, time.perf_counter() - tic


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, default=4, help="tasks evaluated at once")
    parser.add_argument("--layout", default="interleaved", choices=["interleaved", "compact"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bandit-steps", type=int, default=300)
    parser.add_argument("--darkroom-steps", type=int, default=2000)
    parser.add_argument("--only", choices=sorted(CASES), help="run one environment only")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
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
        results = {}
        for name, cache in (("cached", True), ("recompute", False)):
            policy = InContextPolicy(model, selection="sample", use_cache=cache, device=device, amp=amp)
            timed_rollout(policy, tasks, min(steps, 5), device)  # warm-up: allocator, kernels
            results[name] = timed_rollout(policy, tasks, steps, device)
        (cached, t_cached), (recompute, t_recompute) = results["cached"], results["recompute"]
        env_steps = args.envs * steps
        print(json.dumps({
            "benchmark": "inference", "env": env_name, "suite": suite, "layout": args.layout,
            "device": str(device), "envs": args.envs, "steps": steps, "seq_len": cfg.model.seq_len,
            "d_model": cfg.model.d_model, "num_layers": cfg.model.num_layers, "num_heads": cfg.model.num_heads,
            "cached_seconds": round(t_cached, 3), "recompute_seconds": round(t_recompute, 3),
            "cached_steps_per_s": round(env_steps / t_cached, 1),
            "recompute_steps_per_s": round(env_steps / t_recompute, 1),
            "speedup": round(t_recompute / t_cached, 2),
            "same_actions": bool(np.array_equal(cached.actions, recompute.actions)),
        }), flush=True)


if __name__ == "__main__":
    main()
