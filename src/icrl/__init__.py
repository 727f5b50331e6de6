"""icrl: in-context reinforcement learning over variable action spaces (AD and Headless-AD)."""

__version__ = "0.1.0"
