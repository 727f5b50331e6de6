"""``state_action``: per-action statistics of the context restricted to the current state.

A context-feature block (``features.py``), switched on by ``model.context_features=[state_action]``,
for discrete observations. For each readout step ``t`` and action ``a``, it pools the earlier
steps ``k < t`` of the window that took ``a`` *in the state the agent is in now* (``o_k = o_t``):
their count ``n`` (as ``n > 0`` and ``log(1 + n)``), their mean reward, and the fraction of them
after which the observation stayed the same (``o_{k+1} = o_k`` within the episode: the action did
nothing here, e.g. walked into a wall). An exact-match n-gram head of length one on the
observation, fixed rather than learned (after Zisman et al., 2024): "what did each action do, and
pay, the last times I was here". Defined on the context alone and equivariant to the order of
the action set.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .features import FeatureBlock, Pool


class StateActionStats(FeatureBlock):
    name, width = "state_action", 4
    obs_kinds = ("discrete",)

    def extras(self, pool: Pool) -> list[torch.Tensor]:
        obs, actions, rewards, dones = pool.window
        B, T = actions.shape
        o = obs.long()
        stayed = torch.zeros(B, T, device=o.device)
        stayed[:, :-1] = (o[:, 1:] == o[:, :-1]).float()
        if dones is not None:
            stayed = stayed * (~dones.bool()).float()
        phi = torch.stack([torch.ones_like(stayed), rewards.float(), stayed], dim=-1)  # (B, T, 3)
        joint = F.one_hot(actions.long().clamp(min=0), pool.width).float()[..., None] * phi[:, :, None, :]
        k = torch.arange(T, device=o.device)
        if pool.last == slice(T - 1, T):  # the acting agent: the last step only
            match = ((o == o[:, -1:]) & (k < T - 1)[None, :]).float()[:, None, :]  # (B, 1, T)
        else:
            match = ((o[:, :, None] == o[:, None, :]) & (k[None, :] < k[:, None])[None]).float()  # (B, T, T)
        sums = torch.einsum("btk,bkaf->btaf", match, joint)  # (B, T', A, 3)
        n = sums[..., :1]
        means = sums[..., 1:] / n.clamp(min=1.0)
        return [(n > 0).float(), torch.log1p(n), means]
