"""Bring your own task family: any Gymnasium environment with discrete actions as an icrl environment.

::

    family = icrl.GymFamily(
        name="corridor",
        make_env=make_env,          # (task: dict, seed: int) -> gymnasium.Env
        sample_tasks=sample_tasks,  # (rng: numpy Generator, n: int, split: "train" | "test") -> list of JSON-able dicts
        compound=1,                 # an action is a sequence of this many env actions (1 = the env's own)
        action_split=0.4,           # share of the (compound) actions held out as unseen
        teacher="qlearning",        # a teacher name (icrl.teachers.TEACHERS), "noisy_oracle", or a Policy class
        oracle=None,                # optional (env, obs) -> optimal env action(s)
        episodes=50,                # in-context episodes per history / evaluation
    )
    icrl.register(family)           # the environment "corridor", presets "corridor" and "corridor-cpu"
    icrl.run("corridor-cpu", "runs/corridor", overrides=["train.num_steps=500"])

``register`` checks the family before any work (``FamilyError``, one line): a probe env made from a
sampled task must have a ``Discrete`` action space and a ``Discrete`` or ``Box`` observation space;
the sampler must return ``n`` JSON-able dicts; ``compound`` must not make more actions than the
model can take (``max_actions``); an ``oracle`` must name actions of the space.

What the family becomes (an ``icrl.suites.EnvSpec`` under ``name``):

- tasks: a pool of ``num_train_tasks`` training and ``num_test_tasks`` test tasks, drawn once from
  ``sample_tasks`` with a stream of ``split_seed`` (not the dataset's seed: every dataset and eval
  suite sees the same pools, like the darkroom's goals). Training tasks are drawn from the
  training pool at random; eval suites cycle evenly through their pool. Each task is stored as
  its canonical JSON (``TaskSet.params["task_json"]``, and so in the HDF5 histories).
- actions: ``env_actions ** compound`` compound actions, split once (seeded by ``split_seed``)
  into ``round(action_split * num_actions)`` unseen test actions and the training actions.
- eval suites ``<action set>_<tasks>``: action sets ``train``, ``perm_train`` (each task's
  training actions shuffled), ``test`` (the unseen ones), ``all``; tasks ``train`` and ``test``.
- baselines: ``random``, the teacher, and ``qlearning`` where observations are discrete.
- presets ``NAME`` (the darkroom's paper sizes) and ``NAME-cpu`` (the ``darkroom-cpu`` recipe, plus
  ``eval.tune``: the sampling temperature chosen on validation suites), with the family's teacher
  and ``episodes``.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from gymnasium import spaces

from .envs.base import EnvError
from .envs.gymfamily import GymFamilyEnv, task_json
from .errors import IcrlError

SPLITS = ("train", "test")
ACTION_SETS = ("train", "perm_train", "test", "all")
DEFAULT_MAX_ACTIONS = 128  # the presets' model.action_dim: the most orthonormal action embeddings
DEFAULT_EPISODE_MOVES = 100  # an episode's env steps when neither the family nor the env's spec limits them
STORAGE_MAX_ACTIONS = 2**15 - 1  # action ids and discrete observations are stored as int16


class FamilyError(IcrlError, ValueError):
    """A task family that cannot work: a bad space, sampler, compound size, oracle or name."""


@dataclass(eq=False)
class GymFamily:
    """A task family from a Gymnasium environment with a ``Discrete`` action space (see the module).

    ``max_episode_steps``: compound steps per episode (default: the probe env's
    ``spec.max_episode_steps``, else ``DEFAULT_EPISODE_MOVES`` = 100, divided by ``compound``,
    rounded up); ``metric``: ``"return"`` or
    ``"success"`` (the same number, the last episode's return; only the label differs);
    ``max_actions``: the most compound actions the model may take (the presets' action embedding
    size); ``teacher_kwargs``: options of the teacher in the presets; ``baselines``: more baseline
    rows beside random, the teacher and Q-learning (teacher names, or ``NAME@<N>ep``);
    ``cpu_overrides``: ``{section: {field: value}}`` changed in the ``NAME-cpu`` preset; ``copy_env``: how the oracle's
    look-ahead over compound actions copies an env (default ``copy.deepcopy``; a cheaper copy
    that leaves the original untouched when stepped speeds up ``noisy_oracle`` and DPT labels);
    ``reference``: the ``"package.module:attribute"`` the family is imported from, written into its
    presets (``family:``) so that runs made from them find the family in a new process (default:
    found by ``register`` when an importable module holds the family).
    """

    name: str
    make_env: Callable
    sample_tasks: Callable
    compound: int = 1
    action_split: float = 0.4
    teacher: object = "qlearning"
    oracle: Callable | None = None
    episodes: int = 50
    max_episode_steps: int | None = None
    metric: str = "return"
    num_train_tasks: int = 1000
    num_test_tasks: int = 100
    split_seed: int = 0
    max_actions: int = DEFAULT_MAX_ACTIONS
    teacher_kwargs: dict = field(default_factory=dict)
    baselines: tuple = ()
    cpu_overrides: dict = field(default_factory=dict)
    copy_env: Callable = copy.deepcopy
    reference: str | None = None

    # -- checks (register calls them before anything else) ------------------------------------
    def check(self) -> GymFamily:
        """Probe the family; sets ``env_actions``, ``num_actions``, ``obs_kind``, ``obs_dim`` and the
        action split. Raises ``FamilyError`` naming what is wrong."""
        where = f"family {self.name!r}"
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", self.name):
            raise FamilyError(f"family name {self.name!r}: use letters, digits, '_' or '-'")
        for attr in ("make_env", "sample_tasks"):
            if not callable(getattr(self, attr)):
                raise FamilyError(f"{where}: {attr} must be a function, got {getattr(self, attr)!r}")
        if isinstance(self.compound, bool) or not isinstance(self.compound, int) or self.compound < 1:
            raise FamilyError(f"{where}: compound must be an integer >= 1, got {self.compound!r}")
        if isinstance(self.episodes, bool) or not isinstance(self.episodes, int) or self.episodes < 1:
            raise FamilyError(f"{where}: episodes must be an integer >= 1, got {self.episodes!r}")
        for attr in ("num_train_tasks", "num_test_tasks"):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise FamilyError(f"{where}: {attr} must be an integer >= 1, got {value!r}")
        if self.metric not in ("return", "success"):
            raise FamilyError(f"{where}: metric must be 'return' or 'success', got {self.metric!r}")
        probe_task = self._sample(np.random.default_rng(self.split_seed), 2, "train")[0]
        self._sample(np.random.default_rng(self.split_seed), 2, "test")
        env = self.make_single(probe_task, 0)
        space = env.action_space
        if not isinstance(space, spaces.Discrete):
            raise FamilyError(f"{where}: the action space must be Discrete, got {space}")
        self.env_actions, self.action_start = int(space.n), int(space.start)
        self.num_actions = self.env_actions ** self.compound
        limit = min(int(self.max_actions), STORAGE_MAX_ACTIONS)
        if self.num_actions > limit:
            raise FamilyError(f"{where}: compound={self.compound} makes {self.env_actions}**{self.compound} = "
                              f"{self.num_actions} actions, more than the model can take ({limit}, max_actions)")
        obs_space = env.observation_space
        if isinstance(obs_space, spaces.Discrete):
            self.obs_kind, self.obs_dim, self.obs_start = "discrete", int(obs_space.n), int(obs_space.start)
            if self.obs_dim > STORAGE_MAX_ACTIONS:
                raise FamilyError(f"{where}: {obs_space} has more observations than histories store as cells "
                                  f"({STORAGE_MAX_ACTIONS}); give a Box observation (e.g. its features) instead")
        elif isinstance(obs_space, spaces.Box):
            self.obs_kind, self.obs_dim, self.obs_start = "vector", int(spaces.flatdim(obs_space)), 0
        else:
            raise FamilyError(f"{where}: the observation space must be Discrete or Box, got {obs_space} "
                              "(wrap it, e.g. minigrid's ImgObsWrapper or gymnasium's FlattenObservation)")
        steps = self.max_episode_steps
        if steps is None:
            limit = getattr(env.spec, "max_episode_steps", None) if env.spec is not None else None
            steps = math.ceil((limit or DEFAULT_EPISODE_MOVES) / self.compound)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise FamilyError(f"{where}: max_episode_steps must be an integer >= 1, got {steps!r}")
        self.max_episode_steps = steps
        num_test = int(round(self.action_split * self.num_actions))
        if not (isinstance(self.action_split, (int, float)) and 0 < self.action_split < 1) or not (
                1 <= num_test <= self.num_actions - 2):
            raise FamilyError(f"{where}: action_split={self.action_split!r} of {self.num_actions} actions holds out "
                              f"{num_test}; allowed a share leaving at least 1 unseen and 2 training actions")
        order = _stream(self.split_seed, self.name, "action-split").permutation(self.num_actions)
        self.split = {"test_actions": np.sort(order[:num_test]), "train_actions": np.sort(order[num_test:])}
        if self.oracle is not None:
            obs, _ = env.reset(seed=0)
            self.oracle_moves(env, obs)
        env.close()
        from .suites import parse_baseline
        from .teachers import TEACHERS

        for row in self.baselines:
            if parse_baseline(row)[0] not in TEACHERS:
                raise FamilyError(f"{where}: baseline {row!r} is not a teacher; known: {', '.join(sorted(TEACHERS))}")
        self.teacher_name = self._teacher_name(where)  # last: it may add a Policy class to TEACHERS
        return self

    def _sample(self, rng, n: int, split: str) -> list[dict]:
        where = f"family {self.name!r}: sample_tasks(rng, {n}, {split!r})"
        tasks = self.sample_tasks(rng, n, split)
        if tasks is None or not hasattr(tasks, "__len__") or len(tasks) != n:
            got = "nothing" if tasks is None else (f"{len(tasks)} tasks" if hasattr(tasks, "__len__") else repr(tasks))
            raise FamilyError(f"{where} returned {got}; expected a list of {n} task dicts")
        for task in tasks:
            if not isinstance(task, dict):
                raise FamilyError(f"{where} returned {task!r}; each task must be a dict")
            try:
                task_json(task)
            except (TypeError, ValueError) as err:
                raise FamilyError(f"{where} returned a task that is not JSON ({err}): {task!r}") from None
        return list(tasks)

    def _teacher_name(self, where: str) -> str:
        from .teachers import TEACHERS, Policy

        teacher = self.teacher
        if inspect.isclass(teacher) and issubclass(teacher, Policy):
            known = TEACHERS.get(teacher.name)
            if known is not None and known is not teacher:
                raise FamilyError(f"{where}: teacher class {teacher.__name__} is named {teacher.name!r}, "
                                  f"which another teacher already has")
            if known is None:
                TEACHERS[teacher.name] = teacher
                self._added_teacher = teacher.name  # unregister takes it away again
            teacher = teacher.name
        if teacher not in TEACHERS:
            raise FamilyError(f"{where}: unknown teacher {teacher!r}; known: {', '.join(sorted(TEACHERS))} "
                              "(or pass a Policy subclass)")
        if self.obs_kind not in TEACHERS[teacher].obs_kinds:
            fitting = sorted(n for n, cls in TEACHERS.items() if self.obs_kind in cls.obs_kinds)
            raise FamilyError(f"{where}: teacher {teacher} cannot learn from {self.obs_kind} observations; "
                              f"teachers that can: {', '.join(fitting)} (or pass a Policy subclass)")
        if getattr(TEACHERS[teacher], "needs_oracle", False) and self.oracle is None:
            raise FamilyError(f"{where}: teacher {teacher} needs an oracle (GymFamily(oracle=...))")
        return teacher

    # -- what the batched env calls -------------------------------------------------------------
    def make_single(self, task: dict, seed: int):
        """``make_env(task, seed)``, checked to be a ``gymnasium.Env``."""
        env = self.make_env(task, seed)
        if not hasattr(env, "step") or not hasattr(env, "action_space"):
            raise FamilyError(f"family {self.name!r}: make_env returned {env!r}, not a gymnasium.Env")
        return env

    def oracle_moves(self, env, obs) -> np.ndarray:
        """The oracle's optimal env actions for ``env`` in ``obs``, as indices ``0..env_actions-1``
        (``(k,)`` int). Raises ``FamilyError`` for an action outside the space or none."""
        moves = np.atleast_1d(np.asarray(self.oracle(env, obs)))
        if moves.size == 0 or moves.ndim != 1 or moves.dtype.kind not in "iu":
            raise FamilyError(f"family {self.name!r}: the oracle returned {moves.tolist()!r}; expected one or more "
                              f"integer actions of the env's space")
        local = moves.astype(np.int64) - self.action_start
        if (local < 0).any() or (local >= self.env_actions).any():
            raise FamilyError(f"family {self.name!r}: the oracle returned action(s) {moves.tolist()} outside the action "
                              f"space Discrete({self.env_actions}, start={self.action_start})")
        return local

    # -- tasks ---------------------------------------------------------------------------------
    def pool(self, split: str) -> np.ndarray:
        """``(N,)`` str: the canonical JSON of the ``split`` task pool (drawn once, cached)."""
        cache = self.__dict__.setdefault("_pools", {})
        if split not in cache:
            n = self.num_train_tasks if split == "train" else self.num_test_tasks
            tasks = self._sample(_stream(self.split_seed, self.name, "tasks", split), n, split)
            cache[split] = np.array([task_json(t) for t in tasks])
        return cache[split]

    def action_set(self, name: str) -> np.ndarray:
        """The global compound actions of action set ``name`` (one of ``ACTION_SETS``)."""
        from .suites.darkroom import darkroom_action_set

        if name not in ACTION_SETS:
            raise EnvError(f"unknown {self.name} action set {name!r}; known: {', '.join(ACTION_SETS)}")
        return darkroom_action_set(self.split, name, universe=self.num_actions)

    def tasks(self, rng, num_tasks: int, split: str, action_set: str, cycle: bool, sizes=None):
        """A ``TaskSet`` of ``num_tasks`` tasks of the ``split`` pool with action set ``action_set``
        (``sizes``: random subsets of it, as in ``suites.darkroom.draw_from_pool``)."""
        from .envs.base import TaskSet
        from .envs.gymfamily import TASK_PARAM
        from .suites.darkroom import draw_from_pool

        actions = self.action_set(action_set)
        chosen, action_sets, num_actions = draw_from_pool(rng, num_tasks, self.pool(split), actions,
                                                          permute=action_set == "perm_train", cycle=cycle, sizes=sizes)
        return TaskSet(self.name, num_actions, action_sets, {TASK_PARAM: chosen})

    # -- registration ----------------------------------------------------------------------------
    def env_class(self) -> type[GymFamilyEnv]:
        attrs = {"family": self, "name": self.name, "obs_kind": self.obs_kind, "obs_dim": self.obs_dim,
                 "max_episode_steps": self.max_episode_steps, "param_ranges": {}}
        return type(f"{self.name.title().replace('-', '').replace('_', '')}Env", (GymFamilyEnv,), attrs)

    def spec(self):
        from .suites import EnvSpec, Horizon

        baselines = ["random", self.teacher_name] + (["qlearning"] if self.obs_kind == "discrete" else [])
        baselines = list(dict.fromkeys([*baselines, *self.baselines]))
        train = len(self.split["train_actions"])
        return EnvSpec(
            name=self.name, env_class=self.env_class(),
            eval_suites=tuple(f"{a}_{t}" for a in ACTION_SETS for t in SPLITS),
            teacher=self.teacher_name, baselines=tuple(baselines), paper_reference=self.teacher_name,
            reference=f"the {self.teacher_name} teacher over the same episodes", metric=self.metric,
            default_horizon=Horizon(episodes=self.episodes), universe=self.num_actions,
            train_min_actions=train, train_max_actions=train,
            make_train_tasks=lambda rng, n, lo, hi: self.tasks(rng, n, "train", "train", cycle=False, sizes=(lo, hi)),
            make_eval_suite=self._eval_suite,
        )

    def _eval_suite(self, name: str, rng, num_tasks: int):
        action_set, split = name.rsplit("_", 1)
        return self.tasks(rng, num_tasks, split, action_set, cycle=True)

    def presets(self) -> dict[str, dict]:
        """``{NAME-cpu: ..., NAME: ...}``: the darkroom's recipes with this family's env, teacher and episodes."""
        seq_len = max(100, 2 * self.max_episode_steps)
        data = {"teacher": self.teacher_name, "teacher_kwargs": dict(self.teacher_kwargs), "steps": None,
                "episodes": self.episodes}
        model = {"head_size": self.num_actions, "action_dim": max(DEFAULT_MAX_ACTIONS, self.num_actions),
                 "seq_len": seq_len}
        evaluation = {"steps": None, "episodes": self.episodes}
        common = {"env": self.name, "data": data, "model": model, "eval": evaluation}
        if self.reference:
            common["family"] = self.reference
        # A new family's best sampling temperature is unknown (the darkroom's is tau, so darkroom-cpu
        # tunes nothing): the laptop preset tunes it on validation suites (frozenlake-cpu: 0.17-0.53
        # success sampled at tau, 0.44-0.62 at the chosen 0.5; docs/reproduction/frozenlake-cpu.md).
        cpu = _merge_dicts(_merge_dicts(common, {"eval": {"tune": True}}), dict(self.cpu_overrides))
        return {f"{self.name}-cpu": {"extends": "darkroom-cpu", **cpu}, self.name: {"extends": "darkroom", **common}}


def _merge_dicts(base: dict, over: dict) -> dict:
    return {**base, **{k: {**base.get(k, {}), **v} if isinstance(v, dict) else v for k, v in over.items()}}


def _stream(seed: int, *names: str):
    from .suites import stream

    return stream(seed, *names)


def register(family: GymFamily) -> GymFamily:
    """Check ``family`` and register it: its environment, eval suites and presets ``NAME``, ``NAME-cpu``.

    Registering the same family object again does nothing; another one under a registered name is
    refused. Raises ``FamilyError`` (one line) for a family that cannot work.
    """
    from .suites import ENV_SPECS, PRESETS
    from .suites import register as register_spec

    if not isinstance(family, GymFamily):
        raise FamilyError(f"icrl.register takes a GymFamily, got {type(family).__name__}")
    known = ENV_SPECS.get(family.name)
    if known is not None:
        if getattr(known.env_class, "family", None) is family:
            return family
        raise FamilyError(f"environment {family.name!r} is already registered (choose another family name)")
    family.check()
    if family.reference is None:
        family.reference = _find_reference(family)
    presets = family.presets()
    taken = sorted(set(presets) & set(PRESETS))
    preset_dir = Path(__file__).parent / "configs"  # icrl.config.PRESET_DIR (config imports the suites, and so this)
    taken += sorted(p for p in presets if (preset_dir / f"{p}.yaml").exists())
    if taken:
        raise FamilyError(f"family {family.name!r}: preset name(s) {', '.join(taken)} already exist")
    register_spec(family.spec())
    PRESETS.update(presets)
    return family


def _find_reference(family: GymFamily) -> str | None:
    """``"module:attribute"`` of an importable module (not ``__main__``) holding ``family``, or None:
    written into the presets, so that runs made from them (sweeps' processes, ``Agent.load`` in a new
    process) import the family again."""
    for name, module in list(sys.modules.items()):
        if name == "__main__" or module is None:
            continue
        for attr, value in list(getattr(module, "__dict__", {}).items()):
            if value is family:
                return f"{name}:{attr}"
    return None


def unregister(name: str) -> None:
    """Forget the family registered as ``name`` (its environment and presets), e.g. to redefine it
    in a notebook. Raises ``FamilyError`` when ``name`` is not a registered family."""
    from .suites import ENV_SPECS, PRESETS

    spec = ENV_SPECS.get(name)
    family = getattr(spec.env_class, "family", None) if spec is not None else None
    if family is None:
        raise FamilyError(f"{name!r} is not a registered task family")
    for preset in family.presets():
        PRESETS.pop(preset, None)
    del ENV_SPECS[name]
    added = family.__dict__.pop("_added_teacher", None)
    if added is not None:
        from .teachers import TEACHERS

        TEACHERS.pop(added, None)
    for key in [k for k, v in _MADE.items() if v is family]:
        del _MADE[key]


_MADE: dict[str, GymFamily] = {}


def load_family(reference: str) -> GymFamily:
    """Import ``"package.module:attribute"`` (a ``GymFamily``, or a function returning one) and register it.

    Raises ``FamilyError`` when the module cannot be imported or the attribute is not a family.
    """
    if not isinstance(reference, str) or reference.count(":") != 1:
        raise FamilyError(f"family: {reference!r} must look like 'package.module:attribute'")
    module_name, attr = reference.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise FamilyError(f"family: cannot import {module_name!r} ({err}); is it on sys.path / PYTHONPATH?") from None
    try:
        family = getattr(module, attr)
    except AttributeError:
        raise FamilyError(f"family: module {module_name!r} has no attribute {attr!r}") from None
    if callable(family) and not isinstance(family, GymFamily):  # a function making the family: made once
        family = _MADE.setdefault(reference, family())
    if not isinstance(family, GymFamily):
        raise FamilyError(f"family: {reference} is a {type(family).__name__}, not an icrl.GymFamily")
    return register(family)
