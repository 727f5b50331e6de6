"""Context features: per-action statistics of the context, scored by a small network shared by all actions.

``model.action_stats``: an attention pattern fixed by design rather than learned, in the spirit of
n-gram heads (Zisman et al., 2024). For each available action ``a`` and readout step ``t``, the
steps ``k < t`` of the window that took ``a`` are pooled: their count ``n`` and the sums of each
feature block's per-step features. A shared MLP (2 hidden layers of 32) scores each action from
the blocks' features, ``(n > 0, log(1 + n), log(1 + t))`` and the decoder's readout ``h_t``; the
score is added to the action's logit. The rule is the same for every action, so the model stays
equivariant to the order of the action set and works for any number of actions.

Feature blocks (``FEATURE_BLOCKS``, in this order; each knows its own width and when it is on):

* ``RewardStats`` (``model.action_stats``): the mean reward of each action (and the mean of 1).
* ``LinearRewardStats`` (``model.action_stats``, vector observations): the means of ``o_k`` and
  ``r_k o_k`` (the per-arm sufficient statistics of a linear reward model), the product of the
  latter with ``o_t``, and ``o_t``.
* ``ActionEffects`` (``model.action_effects`` with ``model.action_stats``, discrete observations): what each action *does*.
  A learned cell embedding ``e`` (``model.effect_dim`` wide, 16 by default) gives every step ``k`` that did not end its episode the
  change ``e(o_{k+1}) - e(o_k)``; its mean over the steps that took ``a`` is the action's effect
  (a displacement, once ``e`` has learned the grid's coordinates). The means of ``r_k e(o_k)``
  (where ``a`` paid from), ``e(o_t)`` and their product join the features, with a one-step
  lookahead: ``g``, the reward-weighted mean over the earlier rewarded steps of ``e(o_k)`` plus
  the effect of the action taken there (where reward was found), and for each action
  ``e(o_t) + effect_a - g`` and its squared norm (zero, with a flag, before any reward). It also
  mixes across actions: the mean of every available action's first-layer activations, through a
  linear map, is added to each action's (a DeepSets set network, still order-equivariant).
  ``model.transition_loss`` (a weight, 0 = off) also trains ``e`` on the window's transitions
  (``ActionEffects.transition_loss``), so that its geometry is learned directly.

* ``StateActionStats`` (``state_action.py``, ``model.context_features=[state_action]``, discrete
  observations): the same statistics restricted to the steps taken in the current state.
  ``EpisodeStateActionStats`` (``episode_state_action``) also matches the episode's phase (the
  reward earned earlier in it).
* ``EpisodeEffects`` (``episode_effects.py``, every observation kind): ``ActionEffects`` with one
  goal per phase of the episode (where reward was found by steps of the readout's phase) and a
  linear embedding of vector observations; without observations it adds nothing.
* ``StateReturnStats`` (``state_action.py``, ``state_return``): each action's mean return-to-go
  within its episode over the steps ``state_action`` pools (a Monte-Carlo action value);
  ``EpisodeReturnStats`` (``episode_return``) the return *after* the step, over the steps of the
  same state and phase: zero on task families whose every step ends its episode.
* ``ActionSetMax`` (``action_set.py``, ``action_max``): no features; each action's first-layer
  activations also get the maximum over the available actions' (DeepSets with max pooling).

Adding a block: a ``FeatureBlock`` subclass in its own file with ``name``, ``width``,
``phi`` or ``extras`` (``build``, ``mix`` where needed), one line in ``_registry()`` and one in
``feature_names.FEATURE_OBS_KINDS``, which gives its ``obs_kinds`` (the torch-free table config
validation reads); ``model.context_features=[name]`` switches it on. Every scorer also has
``RewardStats``, whose counts the others read.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .actions import action_mask
from .feature_names import FEATURE_OBS_KINDS


@dataclass
class Pool:
    """What the blocks read: the window ``(obs, actions, rewards, dones)`` ``(B, T, ...)``, each
    block's per-action sums ``(B, T', A, F_b)`` over the steps before each readout (T' = 1 for the
    acting agent's last step), the counts ``n`` ``(B, T', A, 1)``, the readout steps and their
    slice of the window, and a scratch space for values a block computes in ``phi``."""

    window: tuple
    width: int
    last: slice = field(default_factory=lambda: slice(None))
    onehot: torch.Tensor | None = None  # (B, T, A): the action each step took
    sums: dict = field(default_factory=dict)
    n: torch.Tensor | None = None
    scratch: dict = field(default_factory=dict)

    def actions_onehot(self) -> torch.Tensor:
        """``(B, T, A)`` float: the action each step of the window took (computed once)."""
        if self.onehot is None:
            self.onehot = F.one_hot(self.window[1].long().clamp(min=0), self.width).float()
        return self.onehot

    def sum_by_action(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, A, F)``: per action, the sum of ``x`` ``(B, T, F)`` over the window's steps that
        took it. Equal to ``einsum("bta,btf->baf", onehot, x)``, by a scatter-add that reads
        ``x`` once instead of a product with the ``(B, T, A)`` one-hot."""
        index = self.window[1].long().clamp(min=0)[..., None].expand_as(x)
        return x.new_zeros(x.shape[0], self.width, x.shape[2]).scatter_add(1, index, x)

    def by_action(self, w: torch.Tensor) -> torch.Tensor:
        """``(B, T', A)``: for each readout, the weights ``w`` ``(B, T', T)`` of the window's steps
        summed per action they took (``einsum("btk,bka->bta", w, onehot)``, as a scatter-add)."""
        index = self.window[1].long().clamp(min=0)[:, None, :].expand_as(w)
        return w.new_zeros(*w.shape[:2], self.width).scatter_add(2, index, w)

    def means(self, name: str) -> torch.Tensor:
        return self.sums[name] / self.n.clamp(min=1.0)


class FeatureBlock(nn.Module):
    """``width``: the per-action features it adds; ``obs_kinds``: the observations it reads (set
    from ``feature_names.FEATURE_OBS_KINDS``, the one place that says it)."""

    name = ""
    width = 0
    mean_width = 0  # leading pooled columns that enter the features as plain means
    obs_kinds: tuple[str, ...] = ("none", "discrete", "vector")

    def __init__(self, obs_kind: str = "none", obs_dim: int = 0):
        super().__init__()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.obs_kinds = FEATURE_OBS_KINDS.get(cls.name, cls.obs_kinds)

    @classmethod
    def enabled(cls, cfg, obs_kind: str) -> bool:
        """On when ``model.context_features`` names it (some blocks also by an older switch)."""
        return cls.name in cfg.context_features

    def phi(self, pool: Pool) -> list[torch.Tensor]:
        """Per-step features ``(B, T, *)`` to pool per action."""
        return []

    def extras(self, pool: Pool) -> list[torch.Tensor]:
        """More per-action features ``(B, T', A, *)`` from the pooled sums."""
        return []

    def build(self, hidden: int) -> None:
        """Create parameters that depend on the scorer's width (called after its first layer)."""

    def mix(self, first: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """First-layer activations ``(B, T', A, hidden)`` after mixing across the valid actions."""
        return first


class RewardStats(FeatureBlock):
    name, mean_width, width = "reward", 2, 2

    @classmethod
    def enabled(cls, cfg, obs_kind):
        return cfg.action_stats or bool(cfg.context_features)  # every scorer's base: n comes from it

    def phi(self, pool):
        r = pool.window[2].float()[..., None]
        pool.scratch["r"] = r
        return [torch.ones_like(r), r]


class LinearRewardStats(FeatureBlock):
    """Per-action sufficient statistics of a linear reward model of vector observations.

    Other observation kinds: nothing (no features). A linear model of no observation is the
    mean reward per action, and of a one-hot cell the mean per cell and action, which ``reward``
    and ``state_action`` already pool; so one feature list can serve every environment."""

    name = "linear_reward"

    def __init__(self, obs_kind: str = "vector", obs_dim: int = 0):
        super().__init__()
        self.obs_dim = obs_dim if obs_kind == "vector" else 0
        self.mean_width = 2 * self.obs_dim
        self.width = 4 * self.obs_dim

    @classmethod
    def enabled(cls, cfg, obs_kind):
        return (cfg.action_stats and obs_kind == "vector") or super().enabled(cfg, obs_kind)

    def phi(self, pool):
        if not self.obs_dim:
            return []
        o = pool.window[0].float()
        pool.scratch["o"] = o
        return [o, pool.scratch["r"] * o]

    def extras(self, pool):
        if not self.obs_dim:
            return []
        now = pool.scratch["o"][:, pool.last, None, :].expand(-1, -1, pool.width, -1)
        return [pool.means(self.name)[..., self.obs_dim:] * now, now]


class ActionEffects(FeatureBlock):
    name = "effects"

    def __init__(self, obs_kind: str = "discrete", obs_dim: int = 0, effect_dim: int = 16):
        super().__init__()
        self.obs_dim, self.effect_dim = obs_dim, effect_dim
        self.width = 5 * effect_dim + 2

    @classmethod
    def enabled(cls, cfg, obs_kind):
        return (cfg.action_stats and cfg.action_effects) or super().enabled(cfg, obs_kind)

    def build(self, hidden):
        self.cell = nn.Embedding(self.obs_dim, self.effect_dim)
        self.summary = nn.Linear(hidden, hidden)

    def embed(self, obs: torch.Tensor) -> torch.Tensor:
        """``e(o)`` ``(B, T, m)`` of observations ``(B, T)``: the learned cell embedding."""
        return self.cell(obs.long())

    def phi(self, pool):
        obs, _, _, dones = pool.window
        if dones is None:
            raise ValueError("action effects need the window's episode ends (dones)")
        e = pool.scratch["e"] = self.embed(obs)  # (B, T, m)
        moves = (~dones.bool()).to(e.dtype)[..., None]  # a step that ended its episode moved nowhere
        change = torch.cat([e[:, 1:] - e[:, :-1], torch.zeros_like(e[:, :1])], dim=1)
        return [moves, moves * change, pool.scratch["r"] * e]

    def extras(self, pool):
        m, sums = self.effect_dim, pool.sums[self.name]
        effect = pool.scratch["effect"] = sums[..., 1:1 + m] / sums[..., :1].clamp(min=1.0)  # (B, T', A, m)
        paid_from = pool.means(self.name)[..., 1 + m:]
        now = pool.scratch["e"][:, pool.last, None, :].expand(-1, -1, pool.width, -1)
        # Where reward was found: over the rewarded steps k < t, e(o_k) plus the (current) effect
        # of the action taken there, reward-weighted; then each action's lookahead e(o_t) +
        # effect_a relative to it. Every sum runs over actions, so padding adds 0.
        paid = pool.sums["reward"][..., 1:2]  # (B, T', A, 1): the rewards each action earned
        total = paid.sum(2, keepdim=True)
        found = (total > 0).to(effect.dtype)
        goal = (sums[..., 1 + m:] + effect * paid).sum(2, keepdim=True) / total.where(total > 0, torch.ones_like(total))
        ahead = (now + effect - goal) * found
        return [effect, paid_from, paid_from * now, now, ahead, ahead.pow(2).sum(-1, keepdim=True),
                found.expand_as(pool.n)]

    def mix(self, first, valid):
        pooled = (F.silu(first) * valid).sum(2, keepdim=True) / valid.sum(2, keepdim=True).clamp(min=1.0)
        return first + self.summary(pooled)

    def transition_loss(self, obs: torch.Tensor, actions: torch.Tensor, dones: torch.Tensor, width: int) -> torch.Tensor:
        """A self-supervised loss that shapes ``e`` into the geometry of what the actions do
        (``model.transition_loss``, its weight; our design, in the spirit of forward-model losses).

        For every step ``k`` of the window ``(B, T, ...)`` that did not end its episode, the next
        observation is predicted as ``e(o_k) + effect``, where ``effect`` is the mean change
        ``e(o_{j+1}) - e(o_j)`` over the window's *other* steps ``j`` that took the same action
        (leave-one-out, so a step does not predict itself; actions taken once are skipped). The
        loss is the cross-entropy of the true next observation among candidates scored by
        ``-|prediction - e(c)|^2``: every cell (discrete observations) or the landing observations
        of the window's steps (vector ones). Read from the context alone; the action loss alone
        shapes ``e`` only through the scorer, slowly. Returns a scalar (0 when no step qualifies).
        """
        e = self.embed(obs)  # (B, T, m)
        moves = ~dones[:, :-1].bool()  # (B, T-1): step k landed in the same episode
        change = e[:, 1:] - e[:, :-1]
        took = actions[:, :-1].long().clamp(min=0)  # (B, T-1)
        onehot = F.one_hot(took, width).to(e.dtype) * moves[..., None].to(e.dtype)  # (B, T-1, A)
        total = torch.einsum("bka,bkm->bam", onehot, change)  # (B, A, m): per action, over the window
        count = onehot.sum(1).gather(1, took)  # (B, T-1): the moves with step k's action
        others = total.gather(1, took[..., None].expand(-1, -1, e.shape[-1])) - change * moves[..., None]
        predicted = e[:, :-1] + others / (count - 1).clamp(min=1.0)[..., None]
        if isinstance(self.cell, nn.Embedding):
            candidates, target = self.cell.weight[None], obs[:, 1:].long()  # (1, C, m), (B, T-1)
        else:
            candidates, target = e[:, 1:], torch.arange(e.shape[1] - 1, device=e.device).expand_as(took)
        logits = -torch.cdist(predicted, candidates.expand(e.shape[0], -1, -1)).pow(2)  # (B, T-1, C)
        ce = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none").view_as(took)
        valid = (moves & (count >= 2)).to(ce.dtype)
        return (ce * valid).sum() / valid.sum().clamp(min=1.0)


class ContextScorer(nn.Module):
    """Scores ``(B, T, A)`` of every action from the feature blocks' pooled statistics."""

    def __init__(self, blocks: list[FeatureBlock], d_model: int, hidden: int = 32):
        super().__init__()
        self.blocks = nn.ModuleDict({b.name: b for b in blocks})
        # The MLP's first layer, split: its decoder part is computed once per step, not per action.
        self.first = nn.Linear(sum(b.width for b in blocks) + 3, hidden)
        self.readout = nn.Linear(d_model, hidden, bias=False)
        for b in blocks:
            b.build(hidden)
        # No output bias: a constant added to every action's logit leaves the softmax unchanged, so
        # its gradient is rounding noise, which Adam would turn into steps of size lr.
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1, bias=False))

    def forward(self, obs, actions, rewards, dones, hidden, num_actions, width: int, last_only: bool = False,
                readouts: torch.Tensor | None = None):
        """Scores ``(B, T, A)`` (``(B, A)`` with ``last_only``, ``(B, T', A)`` with ``readouts``).

        ``obs``, ``actions``, ``rewards``, ``dones``: the window ``(B, T, ...)``; the last step's
        action, reward and end flag are ignored (only steps before a readout count).
        ``hidden``: readouts ``(B, T, d)``, or ``(B, d)`` of the last step with ``last_only`` (the
        acting agent's case), or ``(B, T', d)`` of the steps ``readouts`` ``(T',)`` (increasing
        step indices; ``train.loss_readouts``): the scores of those steps only, equal to the
        matching rows of the whole window's. ``num_actions`` ``(B,)``: the set mixing averages
        over these only.
        """
        B, T = actions.shape
        pool = Pool((obs, actions, rewards, dones), width)
        parts = [b.phi(pool) for b in self.blocks.values()]
        phi = torch.cat([p for part in parts for p in part], dim=-1)  # (B, T, F)
        if last_only:  # the acting step: pooled by a scatter-add, no (B, T, A) one-hot
            earlier = (torch.arange(T, device=phi.device) < T - 1).to(phi.dtype)[None, :, None]  # not the last step
            sums = pool.sum_by_action(phi * earlier)[:, None]  # (B, 1, A, F)
            steps = torch.full((1, 1, 1, 1), float(T - 1), device=phi.device)
            pool.last = slice(T - 1, T)
            hidden = hidden[:, None]
        else:
            onehot = pool.onehot = F.one_hot(actions.long().clamp(min=0), width).to(phi.dtype)  # (B, T, A)
            joint = onehot[..., None] * phi[:, :, None, :]  # (B, T, A, F)
            sums = joint.cumsum(1) - joint  # steps k < t only
            pool.last = slice(0, T) if readouts is None else readouts
            sums = sums[:, pool.last]
            steps = torch.arange(T, device=phi.device, dtype=phi.dtype)[pool.last][None, :, None, None]
        start = 0
        for b, part in zip(self.blocks.values(), parts, strict=True):
            size = sum(p.shape[-1] for p in part)
            pool.sums[b.name] = sums[..., start:start + size]
            start += size
        pool.n = n = sums[..., :1]
        feats = [pool.means(b.name)[..., :b.mean_width] for b in self.blocks.values() if b.mean_width]
        feats += [(n > 0).to(phi.dtype), torch.log1p(n), torch.log1p(steps).expand_as(n)]
        feats += [x for b in self.blocks.values() for x in b.extras(pool)]
        first = self.first(torch.cat(feats, dim=-1)) + self.readout(hidden.to(phi.dtype))[:, :, None, :]
        valid = action_mask(num_actions, width).to(first.dtype)[:, None, :, None]  # (B, 1, A, 1)
        for b in self.blocks.values():
            first = b.mix(first, valid)
        scores = self.mlp(first).squeeze(-1)
        return scores[:, 0] if last_only else scores

    def _embedding_blocks(self) -> list[ActionEffects]:
        """The effect blocks with a learned observation embedding (none without observations,
        e.g. ``episode_effects`` on the bandits)."""
        return [b for b in self.blocks.values() if isinstance(b, ActionEffects) and getattr(b, "cell", None) is not None]

    @property
    def embeds(self) -> bool:
        """Whether some block has an observation embedding for ``transition_loss`` to train."""
        return bool(self._embedding_blocks())

    def transition_loss(self, obs, actions, dones, width: int) -> torch.Tensor:
        """The sum of the effect blocks' ``transition_loss`` over the window (a scalar; 0 when no
        block embeds observations, as without any)."""
        losses = [b.transition_loss(obs, actions, dones, width) for b in self._embedding_blocks()]
        return torch.stack(losses).sum() if losses else torch.zeros((), device=actions.device)


def context_scorer(cfg, obs_kind: str, obs_dim: int) -> ContextScorer | None:
    """The scorer of the blocks ``cfg`` switches on, or None when none is. ``ValueError`` for a
    block that cannot read these observations (the config validation says so first)."""
    blocks = []
    for cls in _registry().values():
        if cls.enabled(cfg, obs_kind):
            if obs_kind not in cls.obs_kinds:
                raise ValueError(f"context feature {cls.name!r} needs {' or '.join(cls.obs_kinds)} observations, "
                                 f"not {obs_kind!r}")
            sized = {"effect_dim": cfg.effect_dim} if issubclass(cls, ActionEffects) else {}
            blocks.append(cls(obs_kind, obs_dim, **sized))
    return ContextScorer(blocks, cfg.d_model) if blocks else None


@functools.cache
def _registry() -> dict[str, type[FeatureBlock]]:
    """The registry, in feature-column order (a new block: its file and one line here). Built on
    first use, so that a block's module, which imports this one, can also be imported first."""
    from .action_set import ActionSetMax
    from .episode_effects import EpisodeEffects
    from .state_action import (
        EpisodeReturnStats,
        EpisodeStateActionStats,
        StateActionStats,
        StateReturnStats,
    )

    return {b.name: b for b in (
        RewardStats, LinearRewardStats, ActionEffects,
        StateActionStats, EpisodeStateActionStats, EpisodeEffects, StateReturnStats, EpisodeReturnStats,
        ActionSetMax,
    )}


def __getattr__(name: str):
    if name == "FEATURE_BLOCKS":  # ``FEATURE_BLOCKS: dict[str, type[FeatureBlock]]``, name -> block class
        return _registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
