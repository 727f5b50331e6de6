"""Batched environments: B tasks stepped at once with numpy.

Environments are known by the spec registry (``icrl.suites.ENV_SPECS``); ``make_env`` builds
the one a task set belongs to.
"""

from .bandit import BernoulliBandit
from .base import BatchedEnv, EnvError, TaskSet
from .contextual import ContextualBandit
from .darkroom import DarkRoom


def make_env(tasks: TaskSet, seed=None) -> BatchedEnv:
    """The batched environment for ``tasks`` (its class is the registered one of ``tasks.env``)."""
    from ..suites import env_spec
    from .base import EnvError, TaskSet, check_seed

    if not isinstance(tasks, TaskSet):
        raise EnvError(f"make_env({tasks!r}): allowed a TaskSet, e.g. icrl.eval_suite('bandit', 'train', seed=0) "
                       "(for one environment by name, gymnasium.make('icrl/BernoulliBandit-v0'))")
    check_seed(seed, sequence=True)
    return env_spec(tasks.env).env_class(tasks, seed)


__all__ = ["BatchedEnv", "BernoulliBandit", "ContextualBandit", "DarkRoom", "EnvError", "TaskSet", "make_env"]
