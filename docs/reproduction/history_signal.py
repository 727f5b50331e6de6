"""How much of a grid task's learning histories a context feature could explain, measured on the data alone.

    python docs/reproduction/history_signal.py HISTORIES.h5 [--window 150] [--late 0.85]

For sampled steps ``t`` of every 20th history (each with a full window of ``--window`` earlier
steps), two ceilings, printed as one JSON line:

* ``copy``: the fraction of steps where the most frequent earlier action in the same cell *and
  phase* (the reward earned before it in its episode) is the action the teacher took, and the
  fraction of steps that have such an earlier step at all. What a copying mechanism
  (``episode_state_action``, an n-gram head of length one) can reach.
* ``lookahead``: with the true grid coordinates as the cell embedding, each action's mean
  displacement in the window and the goal ``g_p`` of the step's phase (as ``episode_effects``
  computes them), the mean percentile of the teacher's action when the actions seen in the
  window are ranked by ``|xy_t + effect_a - g_p|^2`` (0 = nearest, 0.5 = no signal), over the
  steps whose phase has a goal; and the fraction of steps that have one. What the lookahead of
  ``episode_effects`` can reach once its embedding has learned the grid.

``--late F``: only steps in the last ``1 - F`` of each history (where an AD-epsilon teacher has
stopped exploring). For the 9x9 grids (``keydoor``, ``darkroom``): cell = row * 9 + col.
"""

from __future__ import annotations

import argparse
import json

import h5py
import numpy as np


def phases(rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
    """The reward each step's episode earned before it (the library's rule, ``episode_phase``)."""
    import torch

    from icrl.models.state_action import episode_phase

    return episode_phase(torch.as_tensor(rewards)[None], torch.as_tensor(dones)[None])[0].numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("histories")
    ap.add_argument("--window", type=int, default=150)
    ap.add_argument("--late", type=float, default=0.0)
    ap.add_argument("--grid", type=int, default=9)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    with h5py.File(args.histories, "r") as f:
        acts, obs, rews, dones, offsets = (f[k][:] for k in ("actions", "observations", "rewards", "dones", "offsets"))
    counts = dict(steps=0, copy_match=0, copy_hit=0, goal=0, percentile=0.0)
    for h in range(0, len(offsets) - 1, 20):
        sl = slice(offsets[h], offsets[h + 1])
        a, o, r, d = acts[sl].astype(int), obs[sl].astype(int), rews[sl], dones[sl]
        T, W = len(a), args.window
        if T <= W:
            continue
        xy = np.stack([o // args.grid, o % args.grid], 1).astype(float)
        ph = phases(r, d)
        for t in rng.integers(max(W, int(args.late * T)), T, size=30):
            ks = np.arange(t - W + 1, t)
            counts["steps"] += 1
            same = ks[(o[ks] == o[t]) & (ph[ks] == ph[t])]
            if len(same):
                vals, c = np.unique(a[same], return_counts=True)
                counts["copy_match"] += 1
                counts["copy_hit"] += int(vals[c.argmax()] == a[t])
            moved = ks[~d[ks]]
            effect = {x: (xy[moved[a[moved] == x] + 1] - xy[moved[a[moved] == x]]).mean(0) for x in np.unique(a[moved])}
            paid = ks[(r[ks] > 0) & (ph[ks] == ph[t])]
            if not len(paid) or a[t] not in effect:
                continue
            goal = sum(r[k] * (xy[k] + effect.get(a[k], 0.0)) for k in paid) / r[paid].sum()
            dist = np.array([np.sum((xy[t] + e - goal) ** 2) for e in effect.values()])
            mine = np.sum((xy[t] + effect[a[t]] - goal) ** 2)
            counts["goal"] += 1  # ties count half, so a feature that ranks nothing gives 0.5
            counts["percentile"] += float((dist < mine).mean() + 0.5 * ((dist == mine).mean() - 1 / len(dist)))
    n = max(counts["steps"], 1)
    print(json.dumps({
        "histories": args.histories, "steps": counts["steps"], "window": args.window, "late": args.late,
        "copy": {"has_match": round(counts["copy_match"] / n, 3),
                 "accuracy": round(counts["copy_hit"] / n, 3),
                 "accuracy_given_match": round(counts["copy_hit"] / max(counts["copy_match"], 1), 3)},
        "lookahead": {"has_goal": round(counts["goal"] / n, 3),
                      "teacher_percentile": round(counts["percentile"] / max(counts["goal"], 1), 3)},
    }))


if __name__ == "__main__":
    main()
