"""How often a trained model reaches each reward phase of an episode, over its in-context episodes.

    python docs/reproduction/episode_phases.py RUN_DIR [--suite train_train] [--tasks 40]
        [--temperatures 1.0,0.5] [--baselines explore_replay,random]

For a task whose episodes pay in phases (Dark Key-to-Door: +1 for the key, +1 for the door), plays
the run's model (sampled at each temperature; the training temperature when none is given) and
each baseline on the **validation** suite of that name (tasks and random streams no eval suite
uses, ``split="validation"``), then prints one JSON line per policy:

* ``phase_rates``: for each phase ``p = 1, 2, ...`` (an episode's return reached ``p``), the
  fraction of episodes that reached it, in 5 blocks of the in-context episodes (first to last);
* ``after_phase_seen``: the fraction of episodes that reach the last phase among those whose
  previous episode did (does a policy keep what it found?);
* ``found_by``: the fraction of tasks whose last phase was reached at least once by the end of
  each block (is the goal ever found?), and ``after_first_found``: the fraction of episodes that
  reach it among all episodes after the first that did (once found, is it kept?);
* ``mean_episode_steps``.

A policy that finds the key in some episodes but does not return to it has a flat first-phase
rate; one that keeps what it found climbs to 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np


def phase_table(traj, phases: int, blocks: int = 5) -> dict:
    """Per-episode phase rates of ``Trajectories`` (every task with the same number of episodes)."""
    returns = traj.episode_returns()  # (B, E)
    E = returns.shape[1] - returns.shape[1] % blocks
    rates = {str(p): (returns[:, :E] >= p).reshape(len(returns), blocks, -1).mean(axis=(0, 2)).round(3).tolist()
             for p in range(1, phases + 1)}
    full = returns >= phases
    kept = full[:, 1:][full[:, :-1]]
    seen = np.cumsum(full, axis=1) > 0  # (B, E): reached by this episode
    found_by = seen[:, :E].reshape(len(returns), blocks, -1)[:, :, -1].mean(axis=0).round(3).tolist()
    after = full[:, 1:][seen[:, :-1]]
    steps = traj.valid.sum() / max(int((traj.dones & traj.valid).sum()), 1)
    return {"phase_rates": rates, "after_phase_seen": round(float(kept.mean()), 3) if kept.size else None,
            "found_by": found_by, "after_first_found": round(float(after.mean()), 3) if after.size else None,
            "mean_episode_steps": round(float(steps), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--suite", default="train_train")
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--temperatures", default="", help="comma-separated; default: the training temperature")
    parser.add_argument("--baselines", default="explore_replay,random")
    args = parser.parse_args()

    from icrl.envs import make_env
    from icrl.evaluate import load_run_model, model_horizon, model_policy_factory, task_seeds
    from icrl.protocol import paper_protocol
    from icrl.rollout import rollout
    from icrl.suites import eval_suites
    from icrl.teachers import make_teacher

    model, cfg = load_run_model(args.run_dir)
    tasks = eval_suites(cfg.env, cfg.eval.seed, [args.suite], args.tasks, train_seed=cfg.data.seed,
                        split="validation")[args.suite]
    seeds = task_seeds(cfg.eval.seed, cfg.env, args.suite, len(tasks), "validation")
    env = make_env(tasks)
    phases = int(getattr(env, "reward_phases", 1))
    length = model_horizon(cfg).kwargs()
    temperatures = [float(t) for t in args.temperatures.split(",") if t] or [None]
    for temperature in temperatures:
        protocol = paper_protocol(cfg)
        if temperature is not None:
            protocol = dataclasses.replace(protocol, temperature=temperature)
        traj = rollout(model_policy_factory(model, cfg, None, protocol)(), make_env(tasks), task_seeds=seeds, **length)
        print(json.dumps({"policy": cfg.model.kind, "temperature": protocol.temperature, "suite": args.suite,
                          "split": "validation", **phase_table(traj, phases)}))
    for name in filter(None, args.baselines.split(",")):
        traj = rollout(make_teacher(name), make_env(tasks), task_seeds=seeds, **length)
        print(json.dumps({"policy": name, "suite": args.suite, "split": "validation", **phase_table(traj, phases)}))


if __name__ == "__main__":
    main()
