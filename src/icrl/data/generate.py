"""Make a learning-history dataset: a teacher learning every training task, written to HDF5."""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from ..config import RunConfig
from ..envs import make_env
from ..rollout import rollout
from ..suites import env_spec, train_tasks
from ..teachers import make_teacher
from .fingerprint import dataset_fingerprint
from .history import HistoryWriter


def generate_dataset(cfg: RunConfig, out=None, *, force: bool = False, progress: bool = True) -> Path:
    """Run ``cfg.data.teacher`` on ``cfg.data.num_tasks`` training tasks and write the histories.

    Tasks are processed ``batch_tasks`` at a time, each chunk with its own seed derived from the
    dataset seed, so the file's bytes depend only on the config. The file appears atomically, and
    its lock (``icrl.lock``) is held meanwhile: a second process writing the same file is refused.
    """
    from ..lock import file_lock

    out = Path(out) if out is not None else cfg.dataset_path()
    with file_lock(out):
        return _generate(cfg, out, force, progress)


def _generate(cfg: RunConfig, out: Path, force: bool, progress: bool) -> Path:
    d = cfg.data
    tasks = train_tasks(cfg.env, d.num_tasks, d.seed, d.min_actions, d.max_actions)
    probe = make_env(tasks.subset(slice(0, 1)))
    spec = env_spec(cfg.env)
    writer = HistoryWriter(
        out, env=cfg.env, teacher=d.teacher, suite="train", seed=d.seed, config=dataset_fingerprint(cfg).record(),
        obs_kind=probe.obs_kind, obs_dim=probe.obs_dim,
        max_actions=max(spec.train_max_actions, int(tasks.num_actions.max())), overwrite=force,
        with_targets=d.targets in ("policy", "optimal"),
    )
    horizon = {"steps": d.steps} if d.steps is not None else {"episodes": d.episodes}
    teacher_kwargs = dict(d.teacher_kwargs)
    chunks = range(0, d.num_tasks, d.batch_tasks)
    with writer, tqdm(total=d.num_tasks, desc=f"{d.teacher} on {cfg.env}", unit="task", disable=not progress) as bar:
        for i, start in enumerate(chunks):
            chunk = tasks.subset(slice(start, start + d.batch_tasks))
            teacher = make_teacher(d.teacher, **teacher_kwargs)
            traj = rollout(teacher, make_env(chunk), seed=[d.seed, i], record_probs=d.targets == "policy",
                           record_optimal=d.targets == "optimal", **horizon)
            writer.append(chunk, traj.observations, traj.actions, traj.rewards, traj.dones, traj.valid, traj.probs)
            bar.update(len(chunk))
    return out
