"""Typed configs, YAML presets and validation.

A preset is a YAML file in ``icrl/configs/`` (or any path) with the sections ``data``, ``model``,
``train`` and ``eval``; ``extends: other-preset`` starts from another preset. Any field can be
overridden with ``section.field=value`` (``--set`` on the command line). ``validate()`` fails
before any work starts, naming the field, the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from .errors import IcrlError
from .suites import ENV_SPECS, MAX_EVAL_TASKS, train_action_pool

PRESET_DIR = Path(__file__).parent / "configs"


class ConfigError(IcrlError, ValueError):
    """An invalid configuration value or preset."""


# -- the paper's recipe --------------------------------------------------------------------------
PAPER = "icrl.paper"  # the key of a field's metadata that holds its PaperSwitch


@dataclass(frozen=True)
class PaperSwitch:
    """A config switch's value in the paper's recipe: a run with another value departs from it, and
    its reports say so (``departures``).

    ``paper``: the paper's value, or a function of the ``RunConfig`` giving it (e.g. the
    environment's teacher); ``note``: what the report adds in brackets, with ``{paper}`` replaced by
    that value (None: nothing, for a switch the paper does not have at all).
    """

    paper: object
    note: str | None = "paper: {paper}"

    def value(self, cfg) -> object:
        return self.paper(cfg) if callable(self.paper) else self.paper


def switch(default, paper, note: str | None = "paper: {paper}"):
    """A dataclass field with ``default`` that departs from the paper's recipe unless it is ``paper``."""
    return field(default=default, metadata={PAPER: PaperSwitch(paper, note)})


def _env_teacher(cfg) -> str:
    return ENV_SPECS[cfg.env].teacher


@dataclass
class DataConfig:
    teacher: str = switch("thompson", _env_teacher)  # the paper's: the environment's teacher (EnvSpec.teacher)
    teacher_kwargs: dict = field(default_factory=dict)
    num_tasks: int = 10_000
    steps: int | None = 300  # steps per history (bandits)
    episodes: int | None = None  # episodes per history (darkroom)
    seed: int = 0
    batch_tasks: int = 2_000  # histories generated at once (memory vs speed)
    # What the model learns to predict: "action", the action the teacher took (the paper's recipe),
    # "policy", the teacher's whole action distribution at that step (stored in the dataset;
    # a lower-variance target with the same expected gradient), or "optimal", the actions that
    # are optimal in that step's state (DPT's labels; uniform over ties).
    targets: str = switch("action", "action", "paper: the sampled action")
    # Range of action counts of the training tasks (bandits; null: the paper's 4..20 arms). Set
    # both to K to retrain AD for K arms, as the paper does for its num_K suites.
    min_actions: int | None = None
    max_actions: int | None = None
    path: str | None = None  # dataset file; default: data/<preset>-seed<seed>-<digest of its fingerprint>.h5 (icrl.data.fingerprint)


@dataclass
class ModelConfig:
    kind: str = "headless_ad"  # a model kind of icrl.models.kinds.MODEL_KINDS: headless_ad | ad | dpt | headless_dpt
    layout: str = switch("interleaved", "interleaved")  # interleaved (the paper's separate tokens) | compact (one token per step)
    action_stats: bool = switch(False, False, None)  # score each action's pooled context statistics too (models.features)
    action_effects: bool = switch(False, False, None)  # with action_stats: also what each action does to the observation (discrete only)
    # More context-feature blocks by name (models.features.FEATURE_BLOCKS), e.g. [state_action]
    context_features: list = field(default_factory=list, metadata={PAPER: PaperSwitch([], None)})
    # Weight of the transition loss on the effect blocks' embedding (models.features.ActionEffects.
    # transition_loss): 0 = off, as in the paper
    transition_loss: float = switch(0.0, 0.0, None)
    # Width m of the learned observation embedding e that the effect blocks (effects,
    # episode_effects) read: a size. Each such block adds 5m + 2 (6m + 4) per-action features.
    effect_dim: int = 16
    seq_len: int = 300  # context length in environment steps
    num_layers: int = 4
    num_heads: int = 8
    d_model: int = 512
    dropout: float = 0.1
    attn_dropout: float = 0.1
    action_dim: int = 128  # d_a, the size of the random action embeddings
    embeddings: str = "orthonormal"  # orthonormal | gaussian
    prompt: bool = True  # prepend the action-set prompt
    loss: str = "infonce"  # infonce | mse
    tau: float = 1.0  # InfoNCE temperature
    head_size: int = 20  # AD's (and DPT's) fixed head: the most actions a task may have (formerly model.max_actions)
    label_smoothing: float = 0.1  # AD


@dataclass
class TrainConfig:
    num_steps: int = 10_000
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 1e-2
    beta1: float = 0.9
    beta2: float = 0.99
    warmup_fraction: float = 0.1
    grad_clip: float = 5.0
    # The action loss on this many readout steps of each window, drawn anew each step (the same
    # steps for every window of a batch), the context scorer computed at those only; 0 (or at
    # least model.seq_len): every step.
    loss_readouts: int = 0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "auto"  # auto (bf16 on CUDA, off on CPU) | bf16 (on any device) | off
    compile: bool = False
    log_every: int = 50
    eval_every: int = 0  # 0: only at the end
    eval_suites: list = field(default_factory=list)  # suites for periodic evaluation
    checkpoint_every: int = 1_000
    wandb: bool = False


@dataclass
class EvalConfig:
    steps: int | None = 300  # in-context steps (bandits)
    episodes: int | None = None  # in-context episodes (darkroom)
    num_tasks: int = 100
    seed: int = 0
    suites: list | None = None  # None: every eval suite of the environment
    # The model's row is always played with the paper's protocol (icrl.protocol). Setting either
    # of these adds a row for another protocol: sample | argmax, and a sampling temperature
    # (null with sample: the training temperature).
    action_selection: str | None = None
    temperature: float | None = None
    batch_size: int = 0  # envs evaluated at once; 0: a whole suite
    # Intra-op CPU threads while evaluating on the CPU (null: OMP_NUM_THREADS if set, else 1, which
    # degrades least on a shared machine; 0: torch's default). See icrl.runtime.
    threads: int | None = None
    # Worker processes that play the suites side by side on the CPU, one intra-op thread each (1:
    # the suites one after another in this process). The numbers do not change: each task draws
    # from its own random streams. Forked workers, on Linux; elsewhere, or on CUDA, 1.
    workers: int = 1
    # Tuning after training (icrl tune), on validation suites only: whether `icrl run` tunes and
    # reports the chosen protocol as a second row, the sampling temperatures tried (as multiples
    # of the training temperature; the argmax is always tried too) and tasks per validation suite.
    tune: bool = False
    tune_temperature_scales: list = field(default_factory=lambda: [1.0, 0.75, 0.5, 0.25])
    tune_num_tasks: int = 50


@dataclass
class RunConfig:
    env: str = "bandit"
    name: str = "run"
    family: str | None = None  # "package.module:attribute" of a GymFamily that env comes from (imported on load)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> RunConfig:
        if isinstance(raw, dict) and raw.get("family"):  # e.g. a saved run's config in a new process
            from .family import load_family

            load_family(raw["family"])
        return _build(cls, _rename_fields(raw, source, warn=False), source)

    def validate(self) -> RunConfig:
        _validate(self)
        return self

    def dataset_path(self) -> Path:
        """``data.path``, or ``data/<name>-seed<seed>-<digest>.h5`` where the digest is that of the
        dataset's fingerprint (``icrl.data.fingerprint``): a preset whose data settings change gets
        a new file instead of a stale one."""
        from .data.fingerprint import dataset_fingerprint

        if self.data.path:
            return Path(self.data.path)
        return Path("data") / f"{self.name}-seed{self.data.seed}-{dataset_fingerprint(self).digest}.h5"


def departures(cfg: RunConfig) -> list[str]:
    """Where ``cfg`` departs from the paper's recipe: ``"section.field=value (note)"`` for every
    switch (a field declared with ``switch``) whose value is not the paper's, in field order."""
    out = []
    for section in SECTIONS:
        for f in dataclasses.fields(SECTIONS[section]):
            rule = f.metadata.get(PAPER)
            if rule is None:
                continue
            value, paper = getattr(getattr(cfg, section), f.name), rule.value(cfg)
            if value != paper:
                text = f"{section}.{f.name}={_yaml_scalar(value)}"
                out.append(text if rule.note is None else f"{text} ({rule.note.format(paper=_yaml_scalar(paper))})")
    return out


def _yaml_scalar(value) -> str:
    """A value as an override would write it (``true``, ``compact``)."""
    if isinstance(value, list):
        return "[" + ",".join(map(_yaml_scalar, value)) + "]"
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _check_context_features(m, obs_kind: str, env: str) -> None:
    """``model.context_features``: distinct names of feature blocks that read ``obs_kind``
    observations (from the torch-free table ``models.feature_names``)."""
    from .models.feature_names import FEATURE_OBS_KINDS as FEATURE_BLOCKS

    names = m.context_features
    _check(all(isinstance(n, str) and n in FEATURE_BLOCKS for n in names), "model.context_features", names,
           f"a list of the feature blocks {', '.join(FEATURE_BLOCKS)}")
    _check(len(set(names)) == len(names), "model.context_features", names, "a list without repeats")
    _check(m.loss == "infonce", "model.context_features", names, "[] with model.loss=mse (their scores add to logits)")
    for n in names:
        kinds = FEATURE_BLOCKS[n]
        _check(obs_kind in kinds, "model.context_features", names,
               f"blocks that read {env}'s {obs_kind} observations ({n} needs {' or '.join(kinds)})")


def train_action_range(cfg: RunConfig) -> tuple[int, int]:
    """(fewest, most) actions of a training task of ``cfg``: ``data.min_actions``/``max_actions``,
    or the environment's training range (``ENV_SPECS``)."""
    spec = ENV_SPECS[cfg.env]
    lo = spec.train_min_actions if cfg.data.min_actions is None else cfg.data.min_actions
    hi = spec.train_max_actions if cfg.data.max_actions is None else cfg.data.max_actions
    return lo, hi


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig, "eval": EvalConfig}

# Fields renamed since configs were first saved: ``{section: {old name: new name}}``. A preset,
# an override or a saved config (``config.json``, a model file's metadata) with the old name is
# read as the new one, so an old run still resumes and compares equal; presets and overrides
# that use it get a one-line ``FutureWarning`` naming the new name.
RENAMED_FIELDS = {"model": {"max_actions": "head_size"}}


def _accept_renamed_keywords(cls, section: str) -> None:
    """Let ``cls(old_name=...)`` (e.g. ``ModelConfig(max_actions=20)``) still construct, with a
    ``FutureWarning`` naming the new name."""
    import functools

    init, names = cls.__init__, RENAMED_FIELDS[section]

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        for old, new in names.items():
            if old in kwargs:
                if new in kwargs:
                    raise ConfigError(f"{cls.__name__}({old}=..., {new}=...): {old} is the old name of {new}; give only {new}")
                _warn_renamed(f"{section}.{old}", f"{section}.{new}", f"{cls.__name__}({old}=...)")
                kwargs[new] = kwargs.pop(old)
        init(self, *args, **kwargs)

    cls.__init__ = __init__


def renamed(key: str) -> str:
    """A dotted ``section.field`` key under its current name (``model.max_actions`` -> ``model.head_size``)."""
    section, _, name = key.partition(".")
    new = RENAMED_FIELDS.get(section, {}).get(name)
    return f"{section}.{new}" if new else key


def _rename_fields(raw, where: str, warn: bool):
    """``raw`` (a config mapping) with renamed fields under their new names; ``ConfigError`` when a
    section gives both names. ``warn``: say so (presets and overrides), else map silently
    (saved configs)."""
    if not isinstance(raw, dict):
        return raw
    out = dict(raw)
    for section, names in RENAMED_FIELDS.items():
        part = out.get(section)
        if not isinstance(part, dict) or not any(old in part for old in names):
            continue
        part = dict(part)
        for old, new in names.items():
            if old not in part:
                continue
            if new in part:
                raise ConfigError(f"{where}: {section}.{old} and {section}.{new} are both given; "
                                  f"{section}.{old} is the old name of {section}.{new}: keep only {section}.{new}")
            if warn:
                _warn_renamed(f"{section}.{old}", f"{section}.{new}", where)
            part[new] = part.pop(old)
        out[section] = part
    return out


_accept_renamed_keywords(ModelConfig, "model")


def renamed_config(raw: dict) -> dict:
    """A saved config mapping (``config.json``, a model file's metadata) with renamed fields under
    their new names, silently: two runs' configs then compare field by field."""
    return _rename_fields(raw, "config", warn=False)


def _warn_renamed(old: str, new: str, where: str) -> None:
    import warnings

    warnings.warn(f"{where}: {old} is deprecated, renamed {new} (read as {new})", FutureWarning, stacklevel=4)


def _build(cls, raw, where: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(map(str, set(raw) - set(fields)))
    if unknown:
        prefix = "" if where == "config" else f"{where}."
        raise ConfigError(f"unknown field(s) {', '.join(prefix + u for u in unknown)}; allowed in {where}: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        key = f"{where}.{name}" if where != "config" else name
        sub = SECTIONS.get(name) if cls is RunConfig else None
        values[name] = _build(sub, value, name) if sub else _coerce(key, hints[name], value)
    return cls(**values)


def _coerce(key: str, hint, value):
    """Check ``value`` against a simple type hint (int, float, bool, str, list, dict, X | None)."""
    args = typing.get_args(hint)
    optional = type(None) in args
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{key}: null is not allowed")
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    base = typing.get_origin(base) or base
    if base is bool:
        if isinstance(value, bool):
            return value
    elif base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif base is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                number = float(value)
            except ValueError:
                pass
        if number is not None:
            if not math.isfinite(number):
                raise ConfigError(f"{key}={value!r} is invalid: allowed finite numbers")
            return number
    elif base is str:
        if isinstance(value, str):
            return value
    elif base is list:
        if isinstance(value, (list, tuple)):
            return list(value)
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
    elif base is dict:
        if isinstance(value, dict):
            return value
    else:
        return value
    raise ConfigError(f"{key}: expected {getattr(base, '__name__', base)}, got {value!r}")


# -- presets and overrides ----------------------------------------------------------------------
def list_presets() -> list[str]:
    """The YAML presets of ``icrl/configs`` and those of registered task families (``suites.PRESETS``)."""
    from .suites import code_preset_names

    return sorted({p.stem for p in PRESET_DIR.glob("*.yaml")} | code_preset_names())


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing what it would silently accept: a key given twice (the last
    one would win) and keys that are not strings (``1:``, ``~:``)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: its keys may be overridden
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise ConfigError(f"line {line}: key {key!r} is not a name (keys are section or field names)")
            if key in seen:
                raise ConfigError(f"line {line}: {key!r} is given twice (the first would be silently dropped)")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, where: str):
    """``text`` parsed as YAML (safe, strict keys); ``ConfigError`` in one line naming ``where`` and
    the line of the problem."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except ConfigError as err:
        raise ConfigError(f"{where}, {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        at = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}{at}: not valid YAML ({problem})") from None


def _read_preset(name_or_path, seen=(), base: Path | None = None) -> dict:
    from .suites import code_preset

    if isinstance(name_or_path, os.PathLike):
        name_or_path = os.fspath(name_or_path)
    if not isinstance(name_or_path, str):
        raise ConfigError(f"preset {name_or_path!r} is invalid: allowed a preset name, a .yaml path or a RunConfig")
    path = Path(name_or_path)
    if base is not None and not path.is_absolute() and (base / path).exists():
        path = base / path  # a parent file next to the YAML that extends it
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = PRESET_DIR / f"{name_or_path}.yaml"
    if not path.is_file() and code_preset(name_or_path) is not None:  # a registered task family's
        raw = _merge(code_preset(name_or_path), {})
    elif not path.is_file():
        raise ConfigError(f"unknown preset {name_or_path!r}; presets: {', '.join(list_presets())} (or a path to a .yaml file)")
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise ConfigError(f"{path}: not a YAML preset (not UTF-8 text: byte {err.start})") from None
        raw = parse_yaml(text, str(path)) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a preset must be a mapping of sections")
    raw = _rename_fields(raw, str(path), warn=True)  # before merging: a child's old name overrides its parent's new one
    if raw.get("family"):  # a task family defined in Python, "package.module:attribute": registered first
        from .family import load_family

        load_family(raw["family"])
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: extends={parent!r} is invalid: allowed one preset name or .yaml path")
    if parent in seen:
        raise ConfigError(f"{path}: preset inheritance loops through {parent!r}")
    return _merge(_read_preset(parent, (*seen, parent), path.parent), raw)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def apply_overrides(raw: dict, overrides) -> dict:
    """Apply ``section.field=value`` strings (values parsed as YAML scalars)."""
    raw = _merge(raw, {})
    for item in check_overrides(overrides):
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.field=value")
        key, text = item.split("=", 1)
        if renamed(key.strip()) != key.strip():
            _warn_renamed(key.strip(), renamed(key.strip()), f"override {item!r}")
        parts = renamed(key.strip()).split(".")
        try:
            value = parse_yaml(text, f"override {item!r}") if text.strip() else None
        except ConfigError as err:
            if "given twice" in str(err) or "not a name" in str(err):
                raise
            value = text
        if len(parts) == 1 and isinstance(value, dict):  # model={max_actions: 50}: its old names too
            value = _rename_fields({parts[0]: value}, f"override {item!r}", warn=True)[parts[0]]
        node = raw
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
        last = parts[-1]
        # section={lr: 0.002} sets those fields, as the same text in a YAML file does
        node[last] = _merge(node[last], value) if isinstance(value, dict) and isinstance(node.get(last), dict) else value
    return raw


def check_overrides(overrides) -> list[str]:
    """``overrides`` as a list of ``section.field=value`` strings; ``ConfigError`` for a lone string
    (it would be read character by character) or anything else."""
    if overrides is None:
        return []
    if isinstance(overrides, str) or not all(isinstance(item, str) for item in overrides):
        raise ConfigError(f"overrides={overrides!r} is invalid: allowed a list of 'section.field=value' strings")
    return list(overrides)


# Model fields that only one model kind reads: setting them for the other kind is refused.
def kind_only_fields() -> dict[str, list[str]]:
    """``{"model.field": [kinds]}`` for the fields that only some model kinds read (``MODEL_KINDS``)."""
    from .models.kinds import MODEL_KINDS

    out: dict[str, list[str]] = {}
    for kind in MODEL_KINDS.values():
        for f in kind.fields:
            out.setdefault(renamed(f), []).append(kind.name)
    return out


def load_config(preset, overrides=(), validate: bool = True) -> RunConfig:
    """A preset (a name, a YAML path, or a ``RunConfig``) with ``section.field=value`` overrides,
    validated (``ConfigError`` naming the field).

    An override of a field the chosen model kind does not read (``kind_only_fields()``, e.g.
    ``model.head_size`` for Headless-AD) is refused rather than silently ignored.
    """
    overrides = check_overrides(overrides)
    if isinstance(preset, RunConfig):
        raw = preset.to_dict()
    else:
        raw = _read_preset(preset)
        raw.setdefault("name", Path(preset).stem)
    cfg = RunConfig.from_dict(apply_overrides(raw, overrides))
    if validate:
        only = kind_only_fields()
        for item in overrides:
            key = renamed(item.split("=", 1)[0].strip())
            kinds = only.get(key)
            if kinds is not None and cfg.model.kind not in kinds:
                raise ConfigError(f"{item.strip()} is not used: {key} applies to model.kind={' or '.join(kinds)} only, "
                                  f"and this run's model.kind is {cfg.model.kind}")
    return cfg.validate() if validate else cfg


# -- validation ---------------------------------------------------------------------------------
NAME = re.compile(r"^[^/\\\x00-\x1f.][^/\\\x00-\x1f]*$")  # a file name: no separators, not hidden
MAX_SEED = 2**32 - 1
SEED_FIELDS = ("data.seed", "train.seed", "eval.seed")  # what a sweep sets per seed
# Upper bounds of the sizes, far above any real run: a typo (1e21) fails here, not deep in torch.
SIZE_LIMITS = {
    "data.num_tasks": 10**7, "data.steps": 10**7, "data.episodes": 10**6, "data.batch_tasks": 10**7,
    "model.seq_len": 10**6, "model.num_layers": 1024, "model.num_heads": 1024, "model.d_model": 65536,
    "model.action_dim": 65536, "model.head_size": 65536, "train.num_steps": 10**10, "train.batch_size": 2**24,
    "train.log_every": 10**10, "train.eval_every": 10**10, "train.checkpoint_every": 10**10,
    "eval.steps": 10**7, "eval.episodes": 10**6, "eval.num_tasks": MAX_EVAL_TASKS, "eval.batch_size": MAX_EVAL_TASKS,
    "eval.tune_num_tasks": MAX_EVAL_TASKS,
}


def _get(cfg: RunConfig, key: str):
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def _leaves(value, prefix: str = ""):
    """(dotted key, value) of every leaf of nested dicts and lists."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{prefix}{k}.")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{prefix}{i}.")
    else:
        yield prefix.rstrip("."), value


def _check(ok: bool, key: str, value, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is invalid: allowed {allowed}")


def _choice(key, value, options):
    _check(value in options, key, value, "one of " + ", ".join(map(str, options)))


def _at_least(key, value, low):
    _check(value is not None and value >= low, key, value, f">= {low}")


def _between(key, value, low, high):
    _check(low <= value <= high, key, value, f"in [{low}, {high}]")


def _check_horizon(cfg: RunConfig) -> None:
    """Bandits count steps (an "episode" would be one pull); episodic envs count episodes."""
    episodic = ENV_SPECS[cfg.env].episodic
    unit, other = ("episodes", "steps") if episodic else ("steps", "episodes")
    for section in ("data", "eval"):
        value = getattr(getattr(cfg, section), other)
        _check(value is None, f"{section}.{other}", value,
               f"null for {cfg.env}, whose horizon is counted in {unit} (set {section}.{unit})")


def _validate(cfg: RunConfig) -> None:
    from .teachers import TEACHERS

    _choice("env", cfg.env, sorted(ENV_SPECS))
    spec = ENV_SPECS[cfg.env]
    d, m, t, e = cfg.data, cfg.model, cfg.train, cfg.eval
    _check(isinstance(cfg.name, str) and bool(NAME.match(cfg.name)), "name", cfg.name,
           "a file name without '/' or '\\', not empty and not starting with '.' (it names runs/<name> and data/<name>-...)")
    for key in ("data.seed", "train.seed", "eval.seed"):
        _between(key, _get(cfg, key), 0, MAX_SEED)
    for key, top in SIZE_LIMITS.items():
        value = _get(cfg, key)
        if value is not None:
            _check(value <= top, key, value, f"<= {top}")
    bad = [k for k, v in _leaves(d.teacher_kwargs) if isinstance(v, float) and not math.isfinite(v)]
    _check(not bad, "data.teacher_kwargs", d.teacher_kwargs, f"finite numbers (not {', '.join(bad)})")
    _choice("data.teacher", d.teacher, sorted(TEACHERS))
    try:  # unknown or bad teacher options fail here, not after the data generation has started
        TEACHERS[d.teacher](**d.teacher_kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"data.teacher_kwargs={d.teacher_kwargs!r} is invalid for {d.teacher}: {err}") from None
    obs_kind = spec.env_class.obs_kind
    fitting = sorted(name for name, cls in TEACHERS.items() if obs_kind in cls.obs_kinds)
    _check(obs_kind in TEACHERS[d.teacher].obs_kinds, "data.teacher", d.teacher,
           f"a teacher that learns {cfg.env} tasks ({'no' if obs_kind == 'none' else obs_kind} observations): "
           f"{', '.join(fitting)}")
    _at_least("data.num_tasks", d.num_tasks, 1)
    lo, hi = train_action_range(cfg)
    most = train_action_pool(spec)  # a fixed training pool: fewer actions are random subsets of it
    _between("data.min_actions", lo, 2, most)
    _between("data.max_actions", hi, lo, most)
    _at_least("data.batch_tasks", d.batch_tasks, 1)
    _choice("data.targets", d.targets, ("action", "policy", "optimal"))
    if d.targets == "policy":
        reporting = sorted(name for name, cls in TEACHERS.items() if cls.reports_probs)
        _check(TEACHERS[d.teacher].reports_probs, "data.targets", d.targets,
               f"'action' with data.teacher={d.teacher} (teachers that report their distribution: {', '.join(reporting)})")
    _check((d.steps is None) != (d.episodes is None), "data.steps", d.steps, "exactly one of data.steps and data.episodes set")
    if d.steps is not None:
        _at_least("data.steps", d.steps, 1)
    if d.episodes is not None:
        _at_least("data.episodes", d.episodes, 1)
    from .models.kinds import MODEL_KINDS

    _choice("model.kind", m.kind, tuple(MODEL_KINDS))
    _check(d.targets in MODEL_KINDS[m.kind].targets, "data.targets", d.targets,
           f"{' or '.join(MODEL_KINDS[m.kind].targets)} for model.kind={m.kind} (it learns the optimal actions)")
    if d.targets == "optimal":
        _check(m.loss == "infonce", "model.loss", m.loss, "infonce with data.targets=optimal (MSE regresses the taken action)")
    _choice("model.layout", m.layout, ("interleaved", "compact"))
    _choice("model.embeddings", m.embeddings, ("orthonormal", "gaussian"))
    _choice("model.loss", m.loss, ("infonce", "mse"))
    if m.action_stats:
        _check(m.loss == "infonce", "model.action_stats", m.action_stats, "false with model.loss=mse (its scores add to logits)")
    if m.action_effects:
        _check(m.action_stats, "model.action_effects", m.action_effects, "false without model.action_stats=true (it extends them)")
        _check(obs_kind == "discrete", "model.action_effects", m.action_effects,
               f"false for {cfg.env}, whose observations are {obs_kind}, not discrete cells")
    if m.context_features:
        _check_context_features(m, obs_kind, cfg.env)
    # Without an effect block (or one that reads no observations, as on the bandits) the transition
    # loss has no embedding to train and is 0, so the general recipe can keep it on while a run
    # switches the blocks off.
    _at_least("model.transition_loss", m.transition_loss, 0.0)
    _at_least("model.effect_dim", m.effect_dim, 1)
    for key in ("seq_len", "num_layers", "num_heads", "d_model", "action_dim", "head_size"):
        _at_least(f"model.{key}", getattr(m, key), 1)
    _check(m.d_model % m.num_heads == 0, "model.num_heads", m.num_heads, f"a divisor of model.d_model={m.d_model}")
    _check((m.d_model // m.num_heads) % 2 == 0, "model.num_heads", m.num_heads, "a value leaving an even head size (rotary embeddings)")
    _between("model.dropout", m.dropout, 0.0, 0.99)
    _between("model.attn_dropout", m.attn_dropout, 0.0, 0.99)
    _between("model.label_smoothing", m.label_smoothing, 0.0, 0.99)
    _check(m.tau > 0, "model.tau", m.tau, "> 0")
    limit, limit_field = MODEL_KINDS[m.kind].rules.limit(m)
    if limit is not None:
        _check(hi <= limit, renamed(limit_field), limit, f">= {hi} (the most actions of a {cfg.env} training task)")
    _at_least("train.num_steps", t.num_steps, 1)
    _at_least("train.batch_size", t.batch_size, 1)
    _check(t.lr > 0, "train.lr", t.lr, "> 0")
    _at_least("train.weight_decay", t.weight_decay, 0.0)
    _between("train.beta1", t.beta1, 0.0, 0.9999)
    _between("train.beta2", t.beta2, 0.0, 0.9999)
    _between("train.warmup_fraction", t.warmup_fraction, 0.0, 1.0)
    _check(t.grad_clip > 0, "train.grad_clip", t.grad_clip, "> 0")
    _check(t.loss_readouts >= 0, "train.loss_readouts", t.loss_readouts, ">= 0 (0 or model.seq_len and more: every step)")
    _check(t.device in ("auto", "cpu", "cuda") or t.device.startswith("cuda:"), "train.device", t.device, "auto, cpu, cuda or cuda:N")
    _choice("train.amp", t.amp, ("auto", "bf16", "off"))
    _at_least("train.log_every", t.log_every, 1)
    _at_least("train.eval_every", t.eval_every, 0)
    if t.eval_every:
        _check(bool(t.eval_suites), "train.eval_every", t.eval_every,
               "0 without train.eval_suites (set the suites to evaluate during training)")
    _at_least("train.checkpoint_every", t.checkpoint_every, 1)
    for suite in t.eval_suites:
        _choice("train.eval_suites", suite, spec.eval_suites)
    _check(len(set(t.eval_suites)) == len(t.eval_suites), "train.eval_suites", t.eval_suites, "each suite once")
    _check((e.steps is None) != (e.episodes is None), "eval.steps", e.steps, "exactly one of eval.steps and eval.episodes set")
    _check_horizon(cfg)
    if e.steps is not None:
        _at_least("eval.steps", e.steps, 1)
    if e.episodes is not None:
        _at_least("eval.episodes", e.episodes, 1)
    _at_least("eval.num_tasks", e.num_tasks, 1)
    _at_least("eval.batch_size", e.batch_size, 0)
    if e.threads is not None:
        _between("eval.threads", e.threads, 0, 1024)
    _between("eval.workers", e.workers, 1, 256)
    if e.action_selection is not None:
        _choice("eval.action_selection", e.action_selection, ("sample", "argmax"))
    if e.temperature is not None:
        _check(e.temperature > 0, "eval.temperature", e.temperature, "> 0")
        _check(e.action_selection != "argmax", "eval.temperature", e.temperature,
               "null with eval.action_selection=argmax (the argmax has no temperature)")
    _at_least("eval.tune_num_tasks", e.tune_num_tasks, 1)
    _check(len(e.tune_temperature_scales) >= 1, "eval.tune_temperature_scales", e.tune_temperature_scales,
           "a non-empty list of numbers > 0")
    for scale in e.tune_temperature_scales:
        _check(isinstance(scale, (int, float)) and not isinstance(scale, bool) and math.isfinite(scale) and scale > 0,
               "eval.tune_temperature_scales", e.tune_temperature_scales, "a non-empty list of finite numbers > 0")
    _check(e.suites is None or len(e.suites) > 0, "eval.suites", e.suites, "null (every suite) or a non-empty list")
    for suite in e.suites or ():
        _choice("eval.suites", suite, spec.eval_suites)
    _check(len(set(e.suites or ())) == len(e.suites or ()), "eval.suites", e.suites, "each suite once")


# -- comparing configs (resume, finished runs, model files) -------------------------------------
# Settings that may change when a run resumes: they do not change what the training computes.
RESUME_SAFE = {"train.log_every", "train.checkpoint_every", "train.eval_every", "train.eval_suites", "train.wandb",
               "train.device", "train.compile", "name"}


def flat_diff(a: dict, b: dict, prefix: str = "") -> dict:
    """``{"section.field": [old, new]}`` for every leaf that differs between two config dicts."""
    out = {}
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            out.update(flat_diff(x, y, f"{prefix}{key}."))
        elif x != y:
            out[f"{prefix}{key}"] = [x, y]
    return out


def training_changes(saved: dict, cfg: RunConfig) -> dict:
    """Settings of ``cfg`` that differ from a run's saved config and would change its training:
    everything in ``env``, ``data``, ``model`` and ``train`` except ``RESUME_SAFE`` (the ``eval``
    section only says how the run will be evaluated)."""
    try:  # fields added since the run was saved take their defaults, as the run had them
        saved = RunConfig.from_dict(saved).to_dict()
    except ConfigError:
        saved = renamed_config(saved)  # renamed fields (model.max_actions) still compare under their new names
    return {k: v for k, v in flat_diff(saved, cfg.to_dict()).items()
            if k not in RESUME_SAFE and not k.startswith("eval.")}


def describe_changes(changes: dict) -> str:
    """``"field: old -> new, ..."`` of a ``{field: (old, new)}`` mapping, for one-line errors."""
    return ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changes.items())


def model_diff(a: dict, b: dict) -> str:
    """The fields in which two model configs differ, as one line."""
    return describe_changes(flat_diff(a, b)) or "env differs"
