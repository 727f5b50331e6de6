"""``episode_effects``: what each action does, and where reward was found *in this phase of the episode*.

A context-feature block (``features.py``), switched on by ``model.context_features=[episode_effects]``.
It extends ``effects`` (``ActionEffects``) in two ways:

* **Per-phase goals.** ``effects`` looks one step ahead towards ``g``, the reward-weighted mean
  place where reward was found (a learned embedding ``e`` of the observation plus the effect of
  the action taken there). With two rewarded places in sequence (Key-to-Door: the key, then the
  door) that mean is the midpoint, where neither reward is. Here the phase of a step is the
  reward earned earlier in its episode (as in ``episode_state_action``), and ``g_p`` pools only
  the rewarded steps of phase ``p``: for the readout step ``t`` of phase ``p_t``, each action's
  lookahead ``e(o_t) + effect_a - g_{p_t}`` and its squared norm join the features, with a flag
  saying whether a rewarded step of that phase exists yet (``effects``' all-phase lookahead
  stays beside it, for phases never rewarded before).
* **Every observation kind.** ``e`` is a learned linear map of vector observations (an
  embedding of the cell index for discrete ones). Without observations (the bandits) no action
  changes anything and the block adds nothing (no features, no parameters), so one list of
  context features can serve every environment.

Defined on the context alone (observations, actions, rewards, episode ends); equivariant to the
order of the action set. Cost: a ``(T', T)`` mask per sequence, like ``episode_state_action``.
"""

from __future__ import annotations

import torch
from torch import nn

from .features import ActionEffects, FeatureBlock, Pool
from .state_action import episode_phase


class EpisodeEffects(ActionEffects):
    """Per-action features ``(B, T', A, 6m + 4)`` (``m`` = ``effect_dim``): ``ActionEffects``'
    ``5m + 2``, then the per-phase lookahead ``(m)``, its squared norm and the found flag; none
    (width 0) for ``obs_kind="none"``. Needs the window's episode ends (``ValueError`` without)."""

    name = "episode_effects"

    def __init__(self, obs_kind: str = "discrete", obs_dim: int = 0, effect_dim: int = 16):
        super().__init__(obs_kind, obs_dim, effect_dim)
        self.obs_kind = obs_kind
        self.width = 0 if obs_kind == "none" else self.width + effect_dim + 2

    @classmethod
    def enabled(cls, cfg, obs_kind):
        return FeatureBlock.enabled.__func__(cls, cfg, obs_kind)  # only by name, not by action_effects

    def build(self, hidden):
        if self.obs_kind == "none":
            return
        super().build(hidden)
        if self.obs_kind == "vector":
            self.cell = nn.Linear(self.obs_dim, self.effect_dim)

    def phi(self, pool: Pool):
        return [] if self.obs_kind == "none" else super().phi(pool)

    def mix(self, first, valid):
        return first if self.obs_kind == "none" else super().mix(first, valid)

    def embed(self, obs):
        return self.cell(obs.float()) if self.obs_kind == "vector" else super().embed(obs)

    def extras(self, pool: Pool):
        if self.obs_kind == "none":
            return []
        feats = super().extras(pool)
        _, actions, rewards, dones = pool.window
        T = actions.shape[1]
        effect = pool.scratch["effect"]  # (B, T', A, m): each action's mean effect, from ActionEffects.extras
        phase = episode_phase(rewards, dones)  # (B, T)
        k = torch.arange(T, device=actions.device)
        t = k[pool.last]
        before = (k[None, :] < t[:, None]).to(effect.dtype)  # (T', T)
        same = (phase[:, pool.last, None] == phase[:, None, :]).to(effect.dtype)  # (B, T', T)
        w = same * before[None] * rewards.float()[:, None, :]  # rewarded steps of the readout's phase
        e = pool.scratch["e"]  # (B, T, m)
        took = pool.by_action(w)  # (B, T', A)
        total = w.sum(-1)[..., None, None]  # (B, T', 1, 1)
        found = (total > 0).to(effect.dtype)
        goal = (torch.einsum("btk,bkm->btm", w, e)[:, :, None] + (took[..., None] * effect).sum(2, keepdim=True))
        goal = goal / total.where(total > 0, torch.ones_like(total))
        now = e[:, pool.last, None, :]
        ahead = (now + effect - goal) * found
        return feats + [ahead, ahead.pow(2).sum(-1, keepdim=True), found.expand_as(pool.n)]
