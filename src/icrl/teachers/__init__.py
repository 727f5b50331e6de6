"""Batched learning algorithms: the teachers whose histories models learn from, and baselines."""

from __future__ import annotations

from .bandits import UCB, DirichletPolicy, EpsilonGreedy, LinUCB, RandomPolicy, ThompsonSampling
from .base import Policy, random_actions, random_argmax
from .demonstrators import ExploreReplay
from .oracle import NoisyOracle
from .qlearning import QLearning

TEACHERS: dict[str, type[Policy]] = {
    cls.name: cls for cls in (RandomPolicy, DirichletPolicy, EpsilonGreedy, UCB, ThompsonSampling, LinUCB, QLearning,
                              ExploreReplay, NoisyOracle)
}


def make_teacher(name: str, **kwargs) -> Policy:
    """A teacher by name with the paper's hyperparameters unless ``kwargs`` override them."""
    from ..envs.base import EnvError

    try:
        cls = TEACHERS[name]
    except (KeyError, TypeError):
        raise EnvError(f"unknown teacher {name!r}; known: {sorted(TEACHERS)}") from None
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise EnvError(f"bad options for teacher {name!r}: {err}") from None


__all__ = [
    "TEACHERS", "DirichletPolicy", "EpsilonGreedy", "ExploreReplay", "LinUCB", "NoisyOracle", "Policy", "QLearning", "RandomPolicy", "ThompsonSampling", "UCB",
    "make_teacher", "random_actions", "random_argmax",
]
