"""Environment specs, the registry every environment is known by, and the seeded task suites.

Each environment has one module here that builds its ``EnvSpec`` (env class, training and eval
task makers, teacher, baselines, metric, normalisation reference, horizon) and registers it;
``train_tasks`` / ``eval_suite`` and the evaluation and report code dispatch through the spec, so
an environment is added by its env file, its spec module here, its presets and one line in the
import list at the bottom of this file.

``train_tasks(env, num_tasks, seed)`` makes the tasks a teacher learns on (the dataset);
``eval_suite(env, name, seed)`` makes one named evaluation set. The ``train`` eval suite of the
bandits is the first tasks of the training set of the same seed, as in the paper.

Every suite draws from its own random stream, derived from the seed, the split and the suite's
name, so adding a suite never changes another. Two splits exist: ``eval`` (the reported numbers)
and ``validation`` (the same suite names and task distributions, e.g. the darkroom's action sets
and goal pools, drawn from other streams; a validation ``train`` suite holds new tasks of the
training distribution, not training tasks). Whatever is chosen after training (the sampling
temperature, sample vs argmax) is chosen on ``validation`` suites only (``icrl.tune``).
"""

from __future__ import annotations

import importlib.util
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..envs.base import BatchedEnv, EnvError, TaskSet, check_count, check_seed

EVAL_TASKS = 100  # tasks per eval suite in the paper
SPLITS = ("eval", "validation")  # eval: the reported suites; validation: what post-training choices are tuned on
SELECTIONS = ("sample", "argmax")  # how an in-context policy picks its action from its scores
MAX_EVAL_TASKS = 10**6  # far past any evaluation; a typo (1e12) fails at once, not in memory
METRICS = ("regret", "success", "return")  # regret: lower is better; success, return: higher is better


@dataclass(frozen=True)
class Horizon:
    """How long a policy plays each task: ``steps`` steps, or ``episodes`` episodes (exactly one).

    Bandits count steps (every pull is an episode of one step); episodic environments count
    episodes. Handed to ``Policy.reset``, so that a learner whose schedule spans its budget
    (Q-learning's epsilon decay) reads it there.
    """

    steps: int | None = None
    episodes: int | None = None

    def __post_init__(self):
        if (self.steps is None) == (self.episodes is None):
            raise EnvError(f"a horizon needs exactly one of steps and episodes, got steps={self.steps}, episodes={self.episodes}")
        if (self.steps or self.episodes) < 1:
            raise EnvError(f"a horizon must be >= 1 {self.unit}, got {self.steps or self.episodes}")

    @property
    def unit(self) -> str:
        return "steps" if self.steps is not None else "episodes"

    @property
    def length(self) -> int:
        return self.steps if self.steps is not None else self.episodes

    def kwargs(self) -> dict:
        """``{"steps": n}`` or ``{"episodes": n}``, as ``rollout`` takes them."""
        return {self.unit: self.length}

    def __str__(self) -> str:
        return f"{self.length} {self.unit}"


@dataclass(frozen=True)
class EnvSpec:
    """Everything the pipeline needs to know about one environment.

    ``make_train_tasks(rng, num_tasks, min_actions, max_actions)`` draws training tasks;
    ``make_eval_suite(name, rng, num_tasks)`` draws eval suite ``name`` (every suite except a
    ``train`` suite made of training tasks, see ``train_suite_is_training_tasks``).

    ``baselines`` are the policies scored beside every model, as row names: a teacher name plays
    the evaluation's horizon (a learner whose schedule spans its budget, such as Q-learning's
    epsilon decay, fits it to that horizon), ``NAME@<N>ep`` / ``NAME@<N>steps`` plays a fixed
    budget (``parse_baseline``). A model's normalised score is against the teacher that made its
    training data (``icrl.evaluate.reference_policy``); ``paper_reference`` is the row the paper
    normalises against (the darkroom: Q-learning after its 200 episodes), reported beside it.
    ``paper_selection``: the paper's test-time action selection (SPEC section 3).
    """

    name: str
    env_class: type[BatchedEnv]
    eval_suites: tuple[str, ...]
    teacher: str  # the teacher whose histories the paper's models learn from
    baselines: tuple[str, ...]  # rows scored by `icrl baselines` and beside every model
    paper_reference: str  # the baseline row the paper's normalised scores stand for
    reference: str  # a description of the environment's teacher, for reports
    metric: str  # one of METRICS
    default_horizon: Horizon  # in-context evaluation length when the config does not say
    universe: int  # largest action id + 1 that tasks may use (bandits: the most arms of any suite)
    train_min_actions: int
    train_max_actions: int
    make_train_tasks: Callable[[np.random.Generator, int, int, int], TaskSet]
    make_eval_suite: Callable[[str, np.random.Generator, int], TaskSet]
    paper_selection: str = "sample"  # one of SELECTIONS
    train_suite_is_training_tasks: bool = False

    def __post_init__(self):
        if self.metric not in METRICS:
            raise EnvError(f"{self.name}: metric {self.metric!r} is not one of {METRICS}")
        if self.paper_selection not in SELECTIONS:
            raise EnvError(f"{self.name}: paper_selection {self.paper_selection!r} is not one of {SELECTIONS}")
        for row in self.baselines:
            parse_baseline(row)
        if self.paper_reference not in self.baselines or "random" not in self.baselines:
            raise EnvError(f"{self.name}: the baselines must include random and {self.paper_reference}")

    @property
    def episodic(self) -> bool:
        """Whether the horizon is counted in episodes (the env has episodes of several steps)."""
        return self.env_class.max_episode_steps is not None

    @property
    def lower_is_better(self) -> bool:
        return self.metric == "regret"

    def horizon(self, steps: int | None = None, episodes: int | None = None) -> Horizon:
        """The given length in this env's unit, or ``default_horizon``."""
        length = episodes if self.episodic else steps
        return Horizon(**{self.default_horizon.unit: length}) if length else self.default_horizon


def parse_baseline(row: str) -> tuple[str, Horizon | None]:
    """A baseline row name -> (teacher name, fixed horizon or None for the evaluation's).

    ``"qlearning"`` -> ``("qlearning", None)``; ``"qlearning@200ep"`` -> ``("qlearning",
    Horizon(episodes=200))``; ``"thompson@300steps"`` -> ``("thompson", Horizon(steps=300))``.
    Raises ``EnvError`` for any other suffix.
    """
    name, _, budget = row.partition("@")
    if not budget:
        return name, None
    for unit, suffix in (("episodes", "ep"), ("steps", "steps")):
        number = budget[: -len(suffix)]
        if budget.endswith(suffix) and number.isdigit() and int(number) >= 1:
            return name, Horizon(**{unit: int(number)})
    raise EnvError(f"baseline {row!r}: the part after @ must be a budget such as 200ep or 300steps")


ENV_SPECS: dict[str, EnvSpec] = {}
# Presets made in code, beside the YAML files of icrl/configs: {name: the raw mapping a YAML preset
# holds, ``extends`` included}. Registered task families (icrl.family.register) add theirs here.
PRESETS: dict[str, dict] = {}
# Families whose packages are optional or slow to import (minigrid): {preset name (the environment's
# among them): "module:attribute" of the family}, imported and registered on first use of a name.
LAZY_FAMILIES: dict[str, str] = {}


def code_preset(name: str) -> dict | None:
    """The preset ``name`` made in code (registering a lazy family first), or None."""
    if name not in PRESETS and name in LAZY_FAMILIES:
        from ..family import load_family

        load_family(LAZY_FAMILIES[name])
    return PRESETS.get(name)


def code_preset_names() -> set[str]:
    """Names of the presets made in code, those of lazy families included (not imported)."""
    return set(PRESETS) | set(LAZY_FAMILIES)


def register(spec: EnvSpec) -> EnvSpec:
    """Add an environment to the registry (its spec module calls this once, on import)."""
    if spec.name in ENV_SPECS:
        raise EnvError(f"environment {spec.name!r} is registered twice")
    if spec.env_class.name != spec.name:
        raise EnvError(f"spec {spec.name!r} names env class {spec.env_class.__name__} of environment {spec.env_class.name!r}")
    ENV_SPECS[spec.name] = spec
    return spec


def env_spec(env: str) -> EnvSpec:
    if env not in ENV_SPECS and env in LAZY_FAMILIES:
        code_preset(env)
    try:
        return ENV_SPECS[env]
    except KeyError:
        raise EnvError(f"unknown environment {env!r}; known: {sorted(ENV_SPECS)}") from None


def stream(seed: int, *names: str) -> np.random.Generator:
    """A random generator for (seed, names), independent of every other name."""
    keys = [zlib.crc32(n.encode()) for n in names]
    return np.random.default_rng([int(seed), *keys])


def train_action_pool(spec: EnvSpec) -> int:
    """The most actions a training task of ``spec`` may have: a family trained on one fixed action
    pool (``train_min_actions == train_max_actions``: the darkroom's 50 training actions) takes
    random subsets of that pool when asked for fewer; others draw from the whole ``universe``."""
    return spec.train_max_actions if spec.train_min_actions == spec.train_max_actions else spec.universe


def train_tasks(env: str, num_tasks: int, seed: int, min_actions: int | None = None,
                max_actions: int | None = None) -> TaskSet:
    """The training tasks of ``env`` for a dataset of ``num_tasks`` histories.

    ``min_actions``/``max_actions`` (environments whose tasks vary in action count; default: the
    spec's range, e.g. the paper's 4..20 arms) change the range of action counts, e.g. to retrain
    AD for K arms as the paper does (``data.min_actions``).
    """
    spec = env_spec(env)
    if num_tasks < 1:
        raise EnvError(f"num_tasks must be >= 1, got {num_tasks}")
    rng = stream(seed, env, "train")
    lo = spec.train_min_actions if min_actions is None else int(min_actions)
    hi = spec.train_max_actions if max_actions is None else int(max_actions)
    most = train_action_pool(spec)
    if not 1 <= lo <= hi <= most:
        raise EnvError(f"{env} training action range {lo}..{hi} is invalid: allowed 1 <= min <= max <= {most}")
    return spec.make_train_tasks(rng, num_tasks, lo, hi)


def eval_suite(env: str, name: str, seed: int, num_tasks: int = EVAL_TASKS, train_seed: int | None = None,
               split: str = "eval") -> TaskSet:
    """The eval suite ``name`` of ``env`` (names as in ``ENV_SPECS[env].eval_suites``).

    ``split="eval"``: the reported suite. The bandits' ``train`` suite is the first tasks of the
    training set made with ``train_seed`` (default: ``seed``); pass the dataset's seed so that it
    really holds the training tasks. ``split="validation"``: the suite of the same name and
    distribution drawn from a stream no eval suite or training set uses (a validation ``train``
    suite holds new tasks of the training distribution). Raises ``EnvError`` for an unknown
    suite or split, or ``num_tasks < 1``.
    """
    spec = env_spec(env)
    if name not in spec.eval_suites:
        raise EnvError(f"unknown {env} suite {name!r}; known: {', '.join(spec.eval_suites)}")
    if split not in SPLITS:
        raise EnvError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    num_tasks = check_count(num_tasks, "num_tasks", MAX_EVAL_TASKS)
    check_seed(seed)
    check_seed(train_seed, "train_seed")
    if name == "train" and spec.train_suite_is_training_tasks:
        if split == "eval":
            return train_tasks(env, num_tasks, seed if train_seed is None else train_seed)
        return spec.make_train_tasks(stream(seed, env, split, name), num_tasks, spec.train_min_actions,
                                     spec.train_max_actions)
    return spec.make_eval_suite(name, stream(seed, env, split, name), num_tasks)


def eval_suites(env: str, seed: int, names=None, num_tasks: int = EVAL_TASKS, train_seed: int | None = None,
                split: str = "eval") -> dict[str, TaskSet]:
    """``{name: eval_suite(...)}`` for ``names`` (default: every suite of ``env``) of ``split``."""
    names = env_spec(env).eval_suites if names is None else names
    return {n: eval_suite(env, n, seed, num_tasks, train_seed, split) for n in names}


# The registry: one spec module per environment (each registers itself on import).
from . import bandit, contextual, darkroom, keydoor  # noqa: E402, F401, I001
from . import frozenlake  # noqa: E402, F401  (a GymFamily: after the specs it builds on)

if importlib.util.find_spec("minigrid") is not None:  # pip install 'icrl[gym]'; imported on first use (pygame)
    LAZY_FAMILIES.update(dict.fromkeys(("minigrid", "minigrid-cpu"), "icrl.suites.minigrid_rooms:MINIGRID"))

from .bandit import BANDIT_ARMS, SKEW_PROBABILITY, bandit_tasks  # noqa: E402
from .contextual import CONTEXTUAL_ARMS, contextual_tasks  # noqa: E402
from .darkroom import (  # noqa: E402
    DARKROOM_ACTION_SETS,
    DARKROOM_GOAL_SETS,
    DARKROOM_SPLIT_SEED,
    DARKROOM_TRAIN_ACTIONS,
    DARKROOM_TRAIN_GOALS,
    darkroom_action_set,
    darkroom_split,
    darkroom_tasks,
)

__all__ = [
    "BANDIT_ARMS", "CONTEXTUAL_ARMS", "DARKROOM_ACTION_SETS", "DARKROOM_GOAL_SETS", "DARKROOM_SPLIT_SEED",
    "DARKROOM_TRAIN_ACTIONS", "DARKROOM_TRAIN_GOALS", "ENV_SPECS", "EVAL_TASKS", "EnvSpec", "Horizon", "METRICS", "PRESETS", "LAZY_FAMILIES",
    "SKEW_PROBABILITY", "bandit_tasks", "code_preset", "code_preset_names", "contextual_tasks", "darkroom_action_set", "darkroom_split", "darkroom_tasks",
    "env_spec", "eval_suite", "eval_suites", "parse_baseline", "register", "stream", "train_tasks",
]
