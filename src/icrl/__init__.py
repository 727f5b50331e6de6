"""icrl: in-context reinforcement learning over variable action spaces (AD and Headless-AD).

The public API (each name is imported on first use, so ``import icrl`` does not import torch)::

    import icrl

    results = icrl.run("bandit-cpu")                      # data, training, evaluation, report
    cfg = icrl.load_config("darkroom-cpu", ["train.num_steps=500"])
    tasks = icrl.eval_suite("darkroom", "test_test", seed=0)
    traj = icrl.rollout(icrl.make_teacher("qlearning"), icrl.make_env(tasks), episodes=50, seed=0)
    data = icrl.load_histories("data/darkroom-cpu-seed0-1b68ab3e.h5")
    agent = icrl.Agent.load("runs/darkroom-cpu")
    icrl.register(icrl.GymFamily("corridor", make_env, sample_tasks))  # bring your own task family
"""

__version__ = "0.1.0"

from .envs.gym import register_envs as _register_envs  # noqa: E402

_register_envs()  # the Gymnasium ids icrl/BernoulliBandit-v0, ContextualBandit-v0, DarkRoom-v0, KeyDoor-v0

# Bound now, not on first use: the function has the name of its module, which importing the
# module would otherwise leave as the package attribute.
from .rollout import rollout  # noqa: E402

_API = {
    "run": ("pipeline", "run"),
    "load_config": ("config", "load_config"),
    "make_env": ("envs", "make_env"),
    "make_teacher": ("teachers", "make_teacher"),
    "eval_suite": ("suites", "eval_suite"),
    "load_histories": ("data", "load_histories"),
    "Agent": ("agent", "Agent"),
    "IcrlError": ("errors", "IcrlError"),
    "GymFamily": ("family", "GymFamily"),
    "register": ("family", "register"),
}
__all__ = ["__version__", "rollout", *_API]


def __getattr__(name):
    if name in _API:
        import importlib

        module, attr = _API[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'icrl' has no attribute {name!r}")
