"""Model files: build a model from its config, save and load it (safetensors with the config in
its metadata), and find a run's checkpoints.

A checkpoint is ``checkpoints/step-NNNNNNN.safetensors`` (the model) with
``checkpoints/step-NNNNNNN.pt`` (optimizer, scheduler, step, random states); the final model is
``model.safetensors``.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file, save

from .. import __version__
from ..config import RunConfig
from ..errors import ModelFileError
from ..io import write_bytes
from .model import InContextModel

MODEL_FORMAT = "icrl-model"


def build_model(cfg: RunConfig) -> InContextModel:
    from ..suites import env_spec

    env_cls = env_spec(cfg.env).env_class
    return InContextModel(cfg.model, env_cls.obs_kind, env_cls.obs_dim)


def save_model(model: InContextModel, cfg: RunConfig, path) -> None:
    meta = {"format": MODEL_FORMAT, "icrl_version": __version__, "config": json.dumps(cfg.to_dict())}
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    # serialised here and written by us: safetensors' save_file leaves its own temp on a kill
    write_bytes(path, save(state, metadata=meta))


def read_model_config(path) -> RunConfig:
    """The run config in a model file's metadata, validated; ``ModelFileError`` for a file that is
    not a readable icrl model or whose config is damaged."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
    except Exception as err:  # safetensors raises several error types for foreign files
        raise ModelFileError(f"{path}: not a readable safetensors model file ({err})") from None
    if meta.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path}: not an icrl model (format {meta.get('format')!r}, expected {MODEL_FORMAT!r})")
    if "config" not in meta:
        raise ModelFileError(f"{path}: a damaged icrl model file (its metadata has no 'config')")
    try:
        return RunConfig.from_dict(json.loads(meta["config"])).validate()
    except ValueError as err:  # not JSON, or a config that does not validate
        raise ModelFileError(f"{path}: a damaged icrl model file (the config in its metadata: {err})") from None


def evaluated_model(path) -> Path:
    """The model file ``load_model(path)`` reads: ``path`` itself, or of a run directory its
    ``model.safetensors``, or while training is unfinished its newest checkpoint (may not exist)."""
    path = Path(path)
    if path.is_dir():
        final = path / "model.safetensors"
        path = final if final.exists() else (latest_checkpoint(path) or (None, final))[1]
    return path


def load_model(path, device="cpu") -> tuple[InContextModel, RunConfig]:
    """Load a model from a ``.safetensors`` file or a run directory (its ``model.safetensors``, or
    the newest checkpoint). ``FileNotFoundError`` where there is none; ``ModelFileError`` for a
    foreign or damaged file, or weights that do not fit the config in its metadata. (Whether a
    checkpoint fits a run's config is the trainer's check, on resume.)"""
    path = evaluated_model(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no model file")
    cfg = read_model_config(path)
    model = build_model(cfg)
    try:
        state = load_file(str(path))
    except Exception as err:  # safetensors raises several error types for damaged files
        raise ModelFileError(f"{path}: unreadable model weights ({err})") from None
    state = {new: state[old] for old, new in upgrade_state_names(state).items()}
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelFileError(
            f"{path}: its weights do not fit the model its config describes (written by another icrl "
            f"version?); missing {missing[:4]}, unexpected {unexpected[:4]}"
        )
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})" for k, v in expected.items()
             if state[k].shape != v.shape]
    if wrong:
        raise ModelFileError(f"{path}: a damaged model file, weights of the wrong shape: {', '.join(wrong[:3])}")
    model.load_state_dict(state)
    return model.to(device), cfg


# Weight names of model files written before the model was split into parts (2026-12-01):
# old prefix -> new prefix. The values are the same tensors.
_RENAMED = (("obs_embed.", "layout.obs_embed."), ("prev_obs_embed.", "layout.prev_obs_embed."),
            ("reward_embed.", "layout.reward_embed."), ("type_embed.", "layout.type_embed."),
            ("start", "layout.start"), ("action_in.", "actions.action_in."), ("head.", "actions.head."),
            ("action_table.", "actions.action_table."), ("stats.features.", "stats.first."),
            ("stats.context.", "stats.readout."), ("stats.cell.", "stats.blocks.effects.cell."),
            ("stats.summary.", "stats.blocks.effects.summary."))


def upgrade_state_names(state: dict) -> dict:
    """``{name in the file: name in the model}`` for the weights of a model file: names written
    before the model was split into parts are renamed, current ones kept."""
    out = {}
    for name in state:
        new = name
        for old, now in _RENAMED:
            if name == old or (old.endswith(".") and name.startswith(old)):
                new = now + name[len(old):]
                break
        out[name] = new
    return out


def checkpoints(run_dir) -> list[tuple[int, Path, Path]]:
    """(step, model file, trainer-state file) of every checkpoint with both files present, newest first."""
    ckpt = Path(run_dir) / "checkpoints"
    steps = sorted((int(p.stem.split("-")[1]) for p in ckpt.glob("step-*.pt") if p.stem.split("-")[-1].isdigit()),
                   reverse=True)
    return [(step, ckpt / f"step-{step:07d}.safetensors", ckpt / f"step-{step:07d}.pt") for step in steps
            if (ckpt / f"step-{step:07d}.safetensors").exists()]


def latest_checkpoint(run_dir) -> tuple[int, Path, Path] | None:
    """(step, model file, trainer-state file) of the newest checkpoint with both files present."""
    found = checkpoints(run_dir)
    return found[0] if found else None
