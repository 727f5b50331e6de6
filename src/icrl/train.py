"""The training loop: windows of learning histories -> next-action prediction.

A run directory holds ``config.json``, ``metrics.jsonl``, TensorBoard events in ``tb/``,
checkpoints in ``checkpoints/`` (``step-NNNNNNN.safetensors`` for the model, ``step-NNNNNNN.pt``
for optimizer, scheduler, step and every random state), and ``model.safetensors`` at the end.
Every file is written atomically; ``resume=True`` continues from the newest complete checkpoint
and gives the same parameters as a run that was never stopped.
"""

from __future__ import annotations

import io
import json
import math
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file
from tqdm.auto import tqdm

from .config import (
    ConfigError,
    RunConfig,
    describe_changes,
    flat_diff,
    model_diff,
    renamed,
    renamed_config,
    training_changes,
)
from .data import TensorWindowSampler, load_histories
from .data.history import DatasetError
from .errors import IcrlError, ModelFileError
from .io import ensure_folder, write_bytes, write_json, write_text
from .models.files import build_model, checkpoints, latest_checkpoint, read_model_config, save_model
from .models.kinds import model_kind
from .reading import read_dataset_record, read_metrics, read_run_config
from .runtime import Session, barrier, compile_unavailable


# -- before any work ----------------------------------------------------------------------------
def check_trainable(cfg: RunConfig) -> None:
    """What can be refused before a dataset is generated: a bandit history shorter than a window."""
    if cfg.data.steps is not None and cfg.data.steps < cfg.model.seq_len:
        raise ConfigError(f"data.steps={cfg.data.steps} is invalid: allowed >= model.seq_len={cfg.model.seq_len} "
                          "(a training window is seq_len steps of one history)")


def check_resumable(cfg: RunConfig, run_dir, resume: bool) -> dict | None:
    """Before any work: with ``resume``, ``run_dir`` has a checkpoint and its ``config.json`` (returned,
    None if missing) differs from ``cfg`` in no training setting; without, it holds no training run."""
    run_dir = Path(run_dir)
    if (run_dir / "checkpoints").exists() and not (run_dir / "checkpoints").is_dir():
        raise NotADirectoryError(20, "is a file, not the run's checkpoints folder", str(run_dir / "checkpoints"))
    for name in ("config.json", "dataset.json", "metrics.jsonl", "model.safetensors"):
        if (run_dir / name).is_dir():
            raise IsADirectoryError(21, "is a directory, not the run's file of that name", str(run_dir / name))
    found = latest_checkpoint(run_dir)
    if not resume:
        if found is not None or (run_dir / "model.safetensors").exists():
            raise FileExistsError(f"{run_dir} already holds a training run; resume it (--resume) or choose another run directory")
        return None
    if found is None:
        raise FileNotFoundError(f"{run_dir}: nothing to resume (no complete checkpoint in {run_dir / 'checkpoints'})")
    path = run_dir / "config.json"
    saved = renamed_config(read_run_config(path)) if path.exists() else None  # old field names under the new
    changed = training_changes(saved, cfg) if saved is not None else {}
    if changed:
        raise ConfigError(f"{run_dir}: cannot resume with changed training settings ({describe_changes(changed)}); "
                          "the run's steps so far were made with the old ones. Resume without these "
                          "changes, or start another run directory")
    return saved


def _relative_to(path, folder) -> str:
    import os

    try:
        return os.path.relpath(Path(path).resolve(), Path(folder).resolve())
    except ValueError:  # another drive (Windows)
        return str(Path(path).resolve())


def _same_dataset(before: dict, now: dict, dataset_path, run_dir) -> bool:
    """Whether a run's recorded dataset (``dataset.json``) is the one it resumes on: the same file (a
    recorded relative path is relative to the run directory), or, where the recorded file is gone
    (an older absolute record of a project folder since moved), one with the same fingerprint
    (``icrl.data.fingerprint``) and as many histories. A record written before fingerprints were
    recorded is matched on env, teacher and seed."""
    from .data.fingerprint import DatasetFingerprint

    recorded = Path(before["path"])
    recorded = recorded if recorded.is_absolute() else Path(run_dir) / recorded
    if before["num_histories"] != now["num_histories"]:
        return False
    if recorded.exists():
        return recorded.resolve() == Path(dataset_path).resolve()
    if isinstance(before.get("fingerprint"), dict):
        return DatasetFingerprint.of_record(before["fingerprint"]) == DatasetFingerprint.of_record(now["fingerprint"])
    return all(before.get(k) == now[k] for k in ("env", "teacher", "seed"))


# -- optimisation -------------------------------------------------------------------------------
def make_optimizer(model: torch.nn.Module, cfg: RunConfig, device: torch.device):
    t = cfg.train
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and "embed" not in name else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = device.type == "cuda"
    opt = torch.optim.AdamW(groups, lr=t.lr, betas=(t.beta1, t.beta2), fused=fused)
    warmup = max(1, int(t.warmup_fraction * t.num_steps))

    def schedule(step):  # linear warm-up, then cosine decay to 10% of the peak
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, t.num_steps - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, schedule)


class Trainer:
    """Holds everything a training run needs; ``run()`` trains to ``cfg.train.num_steps``.

    ``session``: the command's ``runtime.Session`` (device, process group, bf16), resolved once by
    the caller; without it the Trainer resolves one from ``device`` (default ``train.device``).
    """

    def __init__(self, cfg: RunConfig, run_dir, dataset_path, *, resume: bool = False, progress: bool = True,
                 eval_fn=None, device=None, session: Session | None = None):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.session = session if session is not None else Session.resolve(cfg, device)
        self.device, self.rank, self.world = self.session.device, self.session.rank, self.session.world
        self.is_main = self.session.is_main
        self.progress = progress and self.is_main
        if cfg.train.batch_size % self.world:
            raise ConfigError(f"train.batch_size={cfg.train.batch_size} is invalid: allowed multiples of the {self.world} processes")
        self.bf16 = self.session.bf16
        self.dataset = load_histories(dataset_path)
        if self.dataset.env != cfg.env:
            raise DatasetError(f"{dataset_path}: a {self.dataset.env} dataset cannot train a {cfg.env} model")
        widest = int(self.dataset.num_actions.max())
        self.kind = model_kind(cfg.model.kind)
        limit, field = self.kind.rules.limit(cfg.model)
        if limit is not None and widest > limit:
            raise ConfigError(f"{renamed(field)}={limit} is invalid: the dataset has tasks with {widest} actions")
        if cfg.data.targets in ("policy", "optimal") and self.dataset.targets is None:
            what = "the teacher's distributions" if cfg.data.targets == "policy" else "the optimal actions"
            raise DatasetError(f"{dataset_path}: data.targets={cfg.data.targets} needs {what}, and this dataset "
                               f"has none (made with data.targets=action); generate it anew")
        self.sampler = TensorWindowSampler(self.dataset, cfg.model.seq_len, seed=cfg.train.seed, device=self.device,
                                           targets=cfg.data.targets in ("policy", "optimal"))
        self.width = int(self.dataset.action_sets.shape[1])
        torch.manual_seed(cfg.train.seed + self.rank)  # dropout differs per process, like its data
        self.model = build_model(cfg).to(self.device)
        self.forward = self.model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.forward = DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.compiled = cfg.train.compile and self._can_compile()
        if self.compiled:
            self.forward = torch.compile(self.forward)
        self.optimizer, self.scheduler = make_optimizer(self.model, cfg, self.device)
        # Every process draws the same global batch of windows and embeddings and keeps its slice,
        # so N processes with batch B/N each compute exactly the gradient of one process with B.
        self.embed_gen = torch.Generator(device=self.device).manual_seed(cfg.train.seed + 1)
        self.readout_gen = torch.Generator(device=self.device).manual_seed(cfg.train.seed + 2)
        self.local = slice(self.rank * cfg.train.batch_size // self.world, (self.rank + 1) * cfg.train.batch_size // self.world)
        self.step = 0
        self.eval_fn = eval_fn
        self._prepare_dir(resume, dataset_path)
        barrier()

    def _can_compile(self) -> bool:
        """Whether torch.compile can work here. Where it cannot (a CPU without a C++ compiler): warn
        and train eagerly, the same model up to rounding, instead of failing at the first step."""
        why = compile_unavailable(self.device)
        if why and self.is_main:
            warnings.warn(f"train.compile=true: {why}; training without compiling (slower, the same model "
                          "up to rounding). Install a C++ compiler or set train.compile=false to silence this",
                          stacklevel=3)
        return why is None

    def _prepare_dir(self, resume: bool, dataset_path) -> None:
        from .data.fingerprint import DatasetFingerprint

        run_dir = self.run_dir
        # relative to the run directory: a project folder moved or copied as a whole still resumes
        dataset_record = {"path": _relative_to(dataset_path, run_dir), "env": str(self.dataset.attrs["env"]),
                          "teacher": str(self.dataset.attrs["teacher"]), "seed": int(self.dataset.attrs["seed"]),
                          "num_histories": self.dataset.num_histories,
                          "fingerprint": DatasetFingerprint.of_record(self.dataset.attrs["config"]).record()}
        saved = check_resumable(self.cfg, run_dir, resume)
        if resume:
            recorded = run_dir / "dataset.json"
            if recorded.exists():
                before = read_dataset_record(recorded)
                if not _same_dataset(before, dataset_record, dataset_path, run_dir):
                    raise DatasetError(f"{run_dir}: cannot resume on another dataset ({dataset_path}); "
                                       f"the run was trained on {before.get('path')}")
            self._resume_from_newest_readable()
        if not self.is_main:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self._drop_metrics_after_checkpoint()
        else:
            self._set_aside_abandoned_metrics()
        if resume and saved is not None:
            # Only settings that do not change the training (logging, checkpoints, evaluation) may
            # differ here; the record says from which step they apply.
            changes = flat_diff(saved, self.cfg.to_dict())
            if changes:
                with open(run_dir / "config_changes.jsonl", "a") as f:
                    f.write(json.dumps({"step": self.step, "changes": changes}) + "\n")
                write_json(run_dir / "config.json", self.cfg.to_dict())
            return
        write_json(run_dir / "config.json", self.cfg.to_dict())
        write_json(run_dir / "dataset.json", dataset_record)

    # -- checkpoints ---------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        if not self.is_main:
            return
        ckpt = self.run_dir / "checkpoints"
        ensure_folder(ckpt, "the checkpoints folder")
        save_model(self.model, self.cfg, ckpt / f"step-{self.step:07d}.safetensors")
        state = {
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "sampler_rng": self.sampler.generator.get_state(),
            "embed_gen": self.embed_gen.get_state(),
            "readout_gen": self.readout_gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
        }
        buffer = io.BytesIO()  # serialised in memory: a full disk is then an OSError naming the file
        torch.save(state, buffer)
        try:
            write_bytes(ckpt / f"step-{self.step:07d}.pt", buffer.getvalue())
        except BaseException:  # no model file without its trainer state
            (ckpt / f"step-{self.step:07d}.safetensors").unlink(missing_ok=True)
            raise

    def _drop_metrics_after_checkpoint(self) -> None:
        """The rows a killed run logged after its last checkpoint are logged again by the resumed
        steps; drop them so that ``metrics.jsonl`` holds every step once. A last line cut by the
        kill is dropped too (and said)."""
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        rows, cut = read_metrics(path)
        kept = [row for row in rows if row.get("step", 0) <= self.step]
        if cut:
            print(f"{path}: dropped its last line, cut short when the run was stopped", flush=True)
        if cut or len(kept) != len(rows):
            write_text(path, "".join(json.dumps(row) + "\n" for row in kept))

    def _set_aside_abandoned_metrics(self) -> None:
        """A fresh start in a folder where an attempt was stopped before its first checkpoint: that
        attempt's metrics (and TensorBoard events) are moved aside, named, so that the new
        ``metrics.jsonl`` holds this run's steps once."""
        old = [self.run_dir / name for name in ("metrics.jsonl", "tb") if (self.run_dir / name).exists()]
        if not old:
            return
        n = 1
        while (self.run_dir / f"abandoned-{n}").exists():
            n += 1
        aside = self.run_dir / f"abandoned-{n}"
        aside.mkdir()
        for path in old:
            path.rename(aside / path.name)
        print(f"{self.run_dir}: starting afresh; the metrics of the earlier attempt (stopped before its "
              f"first checkpoint) are kept in {aside}", flush=True)

    def _resume_from_newest_readable(self) -> None:
        """Load the newest checkpoint that reads whole; a damaged newer one (a kill mid-write on a
        file system without atomic renames, a truncated copy) is skipped with a warning. A
        checkpoint of another model config is refused, naming the file: its own metadata is checked,
        not only the run's config.json."""
        import warnings

        skipped = []
        for step, model_file, state_file in checkpoints(self.run_dir):
            try:
                ckpt_cfg = read_model_config(model_file)
            except ModelFileError as err:
                skipped.append(f"{model_file.name} ({err})")
                continue
            if (ckpt_cfg.env, asdict(ckpt_cfg.model)) != (self.cfg.env, asdict(self.cfg.model)):
                raise ConfigError(f"{model_file} holds a {ckpt_cfg.env} {ckpt_cfg.model.kind} model of another config "
                                  f"than this run's ({model_diff(asdict(ckpt_cfg.model), asdict(self.cfg.model))}); "
                                  "move it away or use another run directory")
            changed = training_changes(ckpt_cfg.to_dict(), self.cfg)  # config.json may be gone
            if changed:
                raise ConfigError(f"{model_file}: cannot resume with changed training settings "
                                  f"({describe_changes(changed)}); the run's steps so far were made with the old ones")
            try:
                self._load_checkpoint(step, model_file, state_file)
            except ModelFileError as err:
                skipped.append(f"{model_file.name} ({err})")
                continue
            if skipped:
                warnings.warn(f"skipped unreadable checkpoint(s) {'; '.join(skipped)}; resuming from step {step}",
                              stacklevel=2)
            return
        raise ModelFileError(f"{self.run_dir}: no readable checkpoint to resume from ({'; '.join(skipped)})")

    def _load_checkpoint(self, step, model_file, state_file) -> None:
        try:
            self.model.load_state_dict(load_file(str(model_file)))
        except Exception as err:  # safetensors raises several error types for damaged files
            raise ModelFileError(f"{model_file}: unreadable model weights ({err})") from None
        try:
            state = torch.load(state_file, map_location="cpu", weights_only=False)
        except Exception as err:
            raise ModelFileError(f"{state_file}: unreadable trainer state ({err})") from None
        try:
            if not isinstance(state.get("step"), int) or state["step"] != step:
                raise ValueError(f"its step is {state.get('step')!r}, expected {step}")
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.sampler.generator.set_state(state["sampler_rng"].cpu())
            self.embed_gen.set_state(state["embed_gen"].cpu())
            if "readout_gen" in state:  # trainer states before train.loss_readouts have none
                self.readout_gen.set_state(state["readout_gen"].cpu())
            torch.set_rng_state(state["torch_rng"].cpu())
            if state.get("cuda_rng") is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state_all(state["cuda_rng"])
        except KeyError as err:
            raise ModelFileError(f"{state_file}: unreadable trainer state (no {err} entry)") from None
        except (AttributeError, TypeError, ValueError, RuntimeError) as err:
            raise ModelFileError(f"{state_file}: unreadable trainer state ({err})") from None
        self.step = state["step"]

    def _diverged(self, where: str, row: dict) -> None:
        found = latest_checkpoint(self.run_dir)
        last = f"the last good checkpoint is {found[1]} (step {found[0]})" if found else "no checkpoint was saved"
        bad = ", ".join(f"{k}={v}" for k, v in row.items() if not math.isfinite(v)) or "the weights"
        raise TrainingDiverged(f"training diverged at {where}: {bad} is not finite; {last}. "
                               f"Lower train.lr (now {self.cfg.train.lr}) or train.grad_clip and start again")

    # -- the loop ------------------------------------------------------------------------------
    def train_step(self) -> dict:
        """One optimiser step; returns its metrics as device tensors (no host synchronisation)."""
        cfg = self.cfg
        self.model.train()
        ids = self.sampler.sample_ids(cfg.train.batch_size)
        batch = self.sampler.windows(ids[self.local])
        action_emb = self.model.actions.draw(cfg.train.batch_size, self.width, self.embed_gen, self.device)
        if action_emb is not None:
            action_emb = action_emb[self.local]
        if 0 < cfg.train.loss_readouts < cfg.model.seq_len:  # the same steps on every process, like the batch
            drawn = torch.randperm(cfg.model.seq_len, generator=self.readout_gen, device=self.device)
            batch["readouts"] = drawn[: cfg.train.loss_readouts].sort().values
        with self.session.autocast():
            loss, metrics = self.forward(batch, action_emb, self.width)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        metrics["grad_norm"] = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.train.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return metrics

    def run(self) -> Path:
        cfg, t = self.cfg, self.cfg.train
        tokens_per_batch = t.batch_size * self.model.window_length(cfg.model.seq_len, self.width, False)
        logger = MetricsLogger(self.run_dir, cfg, start_step=self.step) if self.is_main else None
        bar = tqdm(total=t.num_steps, initial=self.step, desc=f"training {cfg.model.kind} on {cfg.env}", disable=not self.progress)
        window, tic = [], time.perf_counter()
        try:
            while self.step < t.num_steps:
                window.append(self.train_step())
                bar.update(1)
                # a row at every checkpoint too: no row averages across one, so a resumed run logs what an uninterrupted one does
                if self.step % t.log_every == 0 or self.step % t.checkpoint_every == 0 or self.step == t.num_steps:
                    means = torch.stack([torch.stack([m[k].float() for m in window]).mean() for k in window[0]])
                    if self.world > 1:  # the mean over processes, not just this one's share
                        torch.distributed.all_reduce(means)
                        means /= self.world
                    elapsed = time.perf_counter() - tic
                    row = dict(zip(window[0], means.tolist(), strict=True))
                    if not all(math.isfinite(v) for v in row.values()):
                        self._diverged(f"steps {self.step - len(window) + 1}-{self.step}", row)
                    row.update(step=self.step, lr=self.scheduler.get_last_lr()[0],
                               steps_per_s=len(window) / elapsed, tokens_per_s=len(window) * tokens_per_batch / elapsed)
                    if logger is not None:
                        logger.log(row)
                    bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['accuracy']:.2f}", tok_s=f"{row['tokens_per_s']:.0f}")
                    window, tic = [], time.perf_counter()
                if self.eval_fn is not None and t.eval_every and self.step % t.eval_every == 0 and self.step < t.num_steps:
                    row = self.eval_fn(self.model)
                    if logger is not None:
                        logger.log({"step": self.step, **row})
                if self.step % t.checkpoint_every == 0 or self.step == t.num_steps:
                    if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
                        self._diverged(f"step {self.step}", {})
                    self.save_checkpoint()
                    barrier()
        finally:
            bar.close()
            if logger is not None:
                logger.close()
        if self.is_main:
            save_model(self.model, cfg, self.run_dir / "model.safetensors")
        barrier()
        return self.run_dir / "model.safetensors"


class TrainingDiverged(IcrlError, ValueError):
    """The loss, a gradient or a weight became NaN or infinite; nothing of it was saved."""


class MetricsLogger:
    """Appends metrics to ``metrics.jsonl`` and, where available, TensorBoard and wandb."""

    def __init__(self, run_dir: Path, cfg: RunConfig, start_step: int = 0):
        self.path = run_dir / "metrics.jsonl"
        self.tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            # a resumed run: TensorBoard drops the killed attempt's events after the checkpoint too
            self.tb = SummaryWriter(str(run_dir / "tb"), purge_step=start_step or None)
        except Exception:  # tensorboard is optional at run time
            self.tb = None
        self.wandb = None
        if cfg.train.wandb:
            import wandb

            self.wandb = wandb.init(project="icrl", name=cfg.name, config=cfg.to_dict(), dir=str(run_dir))

    def log(self, row: dict) -> None:
        with open(self.path, "a") as f:  # append-only: a resumed run adds to its history
            f.write(json.dumps(row) + "\n")
        step = row.get("step", 0)
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)):
                if self.tb is not None:
                    self.tb.add_scalar(key, value, step)
        if self.wandb is not None:
            self.wandb.log(row, step=step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()

