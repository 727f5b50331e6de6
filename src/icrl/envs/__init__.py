"""Batched environments: B tasks stepped at once with numpy."""

from .bandit import BernoulliBandit
from .base import BatchedEnv, EnvError, TaskSet
from .contextual import ContextualBandit
from .darkroom import DarkRoom

ENV_CLASSES: dict[str, type[BatchedEnv]] = {
    cls.name: cls for cls in (BernoulliBandit, ContextualBandit, DarkRoom)
}


def make_env(tasks: TaskSet, seed: int | None = None) -> BatchedEnv:
    """The batched environment for ``tasks`` (its class is chosen by ``tasks.env``)."""
    try:
        cls = ENV_CLASSES[tasks.env]
    except KeyError:
        raise EnvError(f"unknown environment {tasks.env!r}; known: {sorted(ENV_CLASSES)}") from None
    return cls(tasks, seed)


__all__ = ["BatchedEnv", "BernoulliBandit", "ContextualBandit", "DarkRoom", "EnvError", "TaskSet", "ENV_CLASSES", "make_env"]
