"""The context-feature blocks by name, with the observation kinds each reads, without torch.

Config validation (``model.context_features``) reads this table, so loading a preset that names
blocks does not import torch (``import icrl`` and ``icrl.load_config`` stay light). The blocks
themselves live in ``features.py`` and its sibling files and take their ``obs_kinds`` from here;
``tests/test_models.py`` checks that this table lists every block of ``features.FEATURE_BLOCKS``.
"""

ALL = ("none", "discrete", "vector")

# name -> the observation kinds it reads, in the feature-column order of ``features._registry()``
FEATURE_OBS_KINDS: dict[str, tuple[str, ...]] = {
    "reward": ALL,
    "linear_reward": ALL,
    "effects": ("discrete",),
    "state_action": ALL,
    "episode_state_action": ALL,
    "episode_effects": ALL,
    "state_return": ALL,
    "episode_return": ALL,
    "action_max": ALL,
}
