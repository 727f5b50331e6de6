"""``action_max``: each action's score also reads the best of the action set, by max pooling.

A context-feature block (``features.py``), switched on by ``model.context_features=[action_max]``.
It adds no features; it mixes the scorer's first-layer activations across the available actions:
for each readout step, the elementwise maximum over the valid actions of ``silu(first)``, through a
learned linear map, is added to every action's activations (a DeepSets set network with max
pooling, Zaheer et al. 2017). So an arm is scored beside the best features any arm of the set has
(the best mean reward so far, the most promising lookahead), the same rule for every action: the
scorer stays equivariant to the order of the action set. Unlike the mean pooling of
``episode_effects``, a maximum does not move when more actions of one kind (untried ones) join the
set, so it carries over to action sets larger than the training ones. Defined on the context alone,
for every observation kind.
"""

from __future__ import annotations

import torch
from torch import nn

from .features import FeatureBlock


class ActionSetMax(FeatureBlock):
    """No features (width 0); ``mix`` adds ``W max_a silu(first_a)`` over the valid actions."""

    name = "action_max"

    def build(self, hidden: int) -> None:
        self.pool = nn.Linear(hidden, hidden)

    def mix(self, first: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``first`` ``(B, T', A, hidden)``, ``valid`` ``(B, 1, A, 1)`` (1 for an available action)."""
        act = torch.nn.functional.silu(first).masked_fill(valid == 0, float("-inf"))
        return first + self.pool(act.amax(2, keepdim=True))
