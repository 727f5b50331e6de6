"""Figure of docs/quality.md's plain-recipe scaling rows: training loss against training tokens
for each budget, and the in-context score (paper's protocol, tuned on validation) at the end.

    python docs/reproduction/plain_scaling.py OUT.png RUN_DIR [RUN_DIR ...]

Each RUN_DIR is a finished run (metrics.jsonl, eval.json; tune.json where it was tuned).
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(out, *runs):
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    points = []
    for run in map(Path, runs):
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        rows = [r for r in rows if "loss" in r and "tokens_per_s" in r]
        cfg = json.loads((run / "config.json").read_text())
        per_step = rows[-1]["tokens_per_s"] / rows[-1]["steps_per_s"]  # tokens of a training step, prompt included
        left.plot([r["step"] * per_step / 1e6 for r in rows], [r["loss"] for r in rows],
                  label=f"{cfg['train']['num_steps']} steps")
        results = json.loads((run / "eval.json").read_text())
        kind = results["protocol"]["policy"]
        paper = [rows_[kind]["normalized"] for rows_ in results["suites"].values()]
        tuned = None
        if (run / "tune.json").exists():
            tune = json.loads((run / "tune.json").read_text())
            chosen = tune["protocol"]
            tuned = next(c["validation_mean"] for c in tune["candidates"]
                         if (c["action_selection"], c["temperature"]) == (chosen["action_selection"], chosen["temperature"]))
        points.append((cfg["train"]["num_steps"] * per_step / 1e6, sum(paper) / len(paper), tuned))
    left.set(xlabel="training tokens (millions)", ylabel="training loss (nats)", title="loss")
    left.legend()
    points.sort()
    right.plot([p[0] for p in points], [p[1] for p in points], "o-", label="paper's protocol (eval suites)")
    right.plot([p[0] for p in points if p[2] is not None], [p[2] for p in points if p[2] is not None], "s--",
               label="tuned on validation (validation suites)")
    right.axhline(1.0, color="grey", lw=0.8)
    right.set(xlabel="training tokens (millions)", ylabel="normalised score (1 = Thompson)", ylim=(0, 1.05),
              title="in-context score at the end of training")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(*sys.argv[1:])
