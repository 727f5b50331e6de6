"""icrl: in-context reinforcement learning over variable action spaces (AD and Headless-AD)."""

__version__ = "0.1.0"

from .envs.gym import register_envs as _register_envs  # noqa: E402

_register_envs()  # the Gymnasium ids icrl/BernoulliBandit-v0, icrl/ContextualBandit-v0, icrl/DarkRoom-v0


def __getattr__(name):
    # `icrl.Agent` without importing torch on `import icrl` (the CLI and numpy parts stay light).
    if name == "Agent":
        from .agent import Agent

        return Agent
    raise AttributeError(f"module 'icrl' has no attribute {name!r}")
