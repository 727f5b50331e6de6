"""Training speed at the paper's model sizes (or a preset's), for both token layouts.

Times real optimiser steps (forward, InfoNCE loss, backward, clipping, AdamW) of Headless-AD on
windows from a generated dataset, after warm-up steps. On CPU by default (a few steps: paper
sizes are slow there); on CUDA with bf16 autocast, eager and (``--compile``) compiled.

    python benchmarks/train.py [--env bandit] [--steps 5] [--device cpu] [--compile]
    python benchmarks/train.py --preset bandit-cpu --steps 30 --compile --amp   # the laptop sizes
    python benchmarks/train.py --preset keydoor-cpu --layouts compact --compile \
        --set model.context_features=[episode_effects]                         # a preset's variant

Prints one JSON line per (layout, mode) and, last, the ratios against eager float32 of the first layout
measured in the same run: {"benchmark": "train", "env": ..., "layout": ..., "tokens_per_s": ...}
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from icrl.config import load_config
from icrl.data.generate import generate_dataset
from icrl.runtime import use_bf16
from icrl.suites import ENV_SPECS
from icrl.train import Trainer

# The official Headless-AD code at the paper's Bernoulli size on one H100 with bf16 (batch 32,
# 300 steps of context): ms per training step, as given in the scale issue. Not measured here.
OFFICIAL_H100_MS = 32.4


def flops_per_token(cfg, tokens: int) -> float:
    """Approximate training FLOPs per token: 6 x parameters plus attention (12 L d T)."""
    m = cfg.model
    hidden = 64 * -(-8 * m.d_model // (3 * 64))
    params = m.num_layers * (4 * m.d_model**2 + 3 * m.d_model * hidden)
    return 6 * params + 12 * m.num_layers * m.d_model * tokens


def measure(cfg, dataset, steps: int, warmup: int, device) -> dict:
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(cfg, Path(run_dir) / "run", dataset, progress=False)
        for _ in range(warmup):
            trainer.train_step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        tic = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - tic
        width = int(trainer.dataset.action_sets.shape[1])
        tokens = trainer.model.window_length(cfg.model.seq_len, width, False)
    tokens_per_s = steps * cfg.train.batch_size * tokens / seconds
    return {
        "steps_per_s": round(steps / seconds, 3), "ms_per_step": round(1000 * seconds / steps, 2),
        "tokens_per_step": tokens * cfg.train.batch_size, "tokens_per_s": round(tokens_per_s, 1),
        "est_tflop_per_s": round(tokens_per_s * flops_per_token(cfg, tokens) / 1e12, 3),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="bandit", choices=sorted(ENV_SPECS))
    parser.add_argument("--preset", default=None, help="time this preset's sizes instead of the paper's (e.g. bandit-cpu)")
    parser.add_argument("--amp", action="store_true", help="also time bf16 autocast (train.amp=bf16; on CPU too)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (on CPU too: inductor needs a C++ compiler)")
    parser.add_argument("--tasks", type=int, default=200, help="histories in the generated dataset")
    parser.add_argument("--batch-size", type=int, default=0,
                        help="override the paper's batch (CPU: 64 heads x 620 tokens x 32 windows of attention "
                             "weights do not fit in 24 GB; use e.g. 4)")
    parser.add_argument("--layouts", default="interleaved,compact",
                        help="comma-separated token layouts to time; the first is the ratios' baseline")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override applied to every timed configuration (repeatable)")
    args = parser.parse_args(argv)
    layouts = [x for x in args.layouts.split(",") if x]
    bad = [x for x in layouts if x not in ("interleaved", "compact")]
    if bad or not layouts:
        parser.error(f"--layouts {args.layouts!r} is invalid: allowed a comma-separated list of interleaved, compact")
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = args.preset or args.env
    with tempfile.TemporaryDirectory() as tmp:
        base = load_config(preset, [f"train.device={args.device}", f"data.num_tasks={args.tasks}", *args.overrides])
        dataset = generate_dataset(base, Path(tmp) / "data.h5", progress=False)
        device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
        modes = [("eager", ["train.compile=false"])] + [("compiled", ["train.compile=true"])] * args.compile + [("bf16", ["train.amp=bf16"])] * args.amp
        rates = {}
        for layout in layouts:
            for mode, extra in modes:
                extra = extra + ([f"train.batch_size={args.batch_size}"] if args.batch_size else [])
                cfg = load_config(preset, [f"train.device={args.device}", f"model.layout={layout}",
                                           f"data.num_tasks={args.tasks}", *args.overrides, *extra])
                row = measure(cfg, dataset, args.steps, args.warmup + (3 if mode == "compiled" else 0), device)
                rates[(layout, mode)] = row["tokens_per_s"]
                line = {"benchmark": "train", "preset": preset, "overrides": args.overrides, "env": cfg.env, "layout": layout, "mode": mode,
                        "compiled": cfg.train.compile, "device": str(device), "bf16": use_bf16(cfg, device),
                        "threads": torch.get_num_threads(), "batch_size": cfg.train.batch_size,
                        "d_model": cfg.model.d_model, "num_layers": cfg.model.num_layers,
                        "num_heads": cfg.model.num_heads, **row}
                if device.type == "cuda" and preset == "bandit" and not args.batch_size:
                    # an outside reference, not measured here: the official code, one H100, bf16
                    line["speedup_vs_official_32_4_ms"] = round(OFFICIAL_H100_MS / row["ms_per_step"], 2)
                print(json.dumps(line), flush=True)
        reference = rates[(layouts[0], "eager")]
        print(json.dumps({"benchmark": "train", "preset": preset, "overrides": args.overrides, "device": str(device),
                          "baseline": f"{layouts[0]} eager",
                          "tokens_per_s_ratio": {f"{layout} {mode}": round(rate / reference, 2)
                                                 for (layout, mode), rate in rates.items()}}))


if __name__ == "__main__":
    main()
