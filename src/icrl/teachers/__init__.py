"""Batched learning algorithms: the teachers whose histories models learn from, and baselines."""

from __future__ import annotations

from ..errors import TeacherError
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
    """A teacher by name (a key of ``TEACHERS``) with the paper's hyperparameters unless ``kwargs``
    override them. ``TeacherError`` naming an unknown name and the known ones, or options the
    teacher does not take or whose values it refuses."""
    cls = TEACHERS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise TeacherError(f"teacher {name!r} is invalid: allowed {', '.join(sorted(TEACHERS))}")
    try:
        return cls(**kwargs)
    except TeacherError as err:
        raise TeacherError(f"bad options for teacher {name!r}: {err}") from None
    except TypeError as err:  # an option the class does not take
        raise TeacherError(f"bad options for teacher {name!r} ({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}): "
                           f"{err}") from None


__all__ = [
    "TEACHERS", "DirichletPolicy", "EpsilonGreedy", "ExploreReplay", "LinUCB", "NoisyOracle", "Policy", "QLearning", "RandomPolicy", "ThompsonSampling", "UCB",
    "make_teacher", "random_actions", "random_argmax",
]
