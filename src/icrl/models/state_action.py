"""``state_action``: per-action statistics of the context in states like the current one.

A context-feature block (``features.py``), switched on by ``model.context_features=[state_action]``.
For each readout step ``t`` and action ``a``, it pools the earlier steps ``k < t`` of the window
that took ``a``, each weighted by how alike its observation is to the current one, ``w_tk``:
their weight ``n = sum w`` (as ``n > 0`` and ``log(1 + n)``), their weighted mean reward, and the
weighted fraction of them after which the observation stayed the same (``o_{k+1} = o_k`` within
the episode: the action did nothing there, e.g. walked into a wall).

* discrete observations: ``w_tk = 1`` when ``o_k = o_t``, else 0 (an exact-match n-gram head of
  length one on the observation, fixed rather than learned, after Zisman et al., 2024: "what did
  each action do, and pay, the last times I was here");
* vector observations: ``w_tk = exp(-|o_k - o_t|^2 / (2 b^2))`` with a learned bandwidth ``b``
  (initially 1): a kernel estimate of each action's reward near the current context;
* no observations (bandits): every earlier step counts (the per-action statistics of the reward).

Defined on the context alone, for every observation kind, and equivariant to the order of the
action set.
"""

from __future__ import annotations

import torch
from torch import nn

from .features import FeatureBlock, Pool


def episode_phase(rewards: torch.Tensor, dones: torch.Tensor) -> torch.Tensor:
    """``(B, T)``: the reward each step's episode earned before that step, within the window
    (``rewards``, ``dones`` ``(B, T)``; a step with ``dones`` set ends its episode)."""
    r = rewards.float()
    before = torch.cumsum(r, 1) - r  # reward before each step, over the whole window
    first = torch.ones_like(dones, dtype=torch.bool)
    first[:, 1:] = dones[:, :-1].bool()  # the steps that start an episode
    k = torch.arange(r.shape[1], device=r.device).expand_as(r)
    start = torch.cummax(torch.where(first, k, torch.zeros_like(k)), 1).values  # each step's episode start
    return before - before.gather(1, start)


class StateActionStats(FeatureBlock):
    name, width = "state_action", 4

    def __init__(self, obs_kind: str = "discrete", obs_dim: int = 0):
        super().__init__()
        self.obs_kind = obs_kind
        if obs_kind == "vector":
            self.log_bandwidth = nn.Parameter(torch.zeros(()))

    def _likeness(self, obs, last, rewards=None, dones=None):
        """``(B, T', T)`` weights of each earlier step's state against the readout steps' ``last``
        (``Pool.last``: a slice or an index ``(T',)`` of the window's steps)."""
        B, T = obs.shape[:2]
        now = obs[:, last]
        if self.obs_kind == "discrete":
            w = (now.long()[:, :, None] == obs.long()[:, None, :]).float()
        elif self.obs_kind == "vector":
            d2 = torch.cdist(now.float(), obs.float()).pow(2)
            w = torch.exp(-0.5 * d2 * torch.exp(-2 * self.log_bandwidth))
        else:
            w = torch.ones(B, now.shape[1], T, device=obs.device)
        k = torch.arange(T, device=obs.device)
        t = k[last]
        return w * (k[None, :] < t[:, None]).float()[None]  # steps k < t only

    def extras(self, pool: Pool) -> list[torch.Tensor]:
        obs, actions, rewards, dones = pool.window
        B, T = actions.shape
        stayed = torch.zeros(B, T, device=actions.device)
        if self.obs_kind != "none":
            same = obs[:, 1:] == obs[:, :-1]
            stayed[:, :-1] = (same.all(-1) if self.obs_kind == "vector" else same).float()
            if dones is not None:
                stayed = stayed * (~dones.bool()).float()
        phi = torch.stack([torch.ones_like(stayed), rewards.float(), stayed], dim=-1)  # (B, T, 3)
        w = self._likeness(obs, pool.last, rewards, dones)
        if w.shape[1] == 1:  # the acting step: weight the steps first, no (B, T, A, 3) tensor
            sums = pool.sum_by_action(w[:, 0, :, None] * phi)[:, None]
        else:
            onehot = pool.actions_onehot()
            sums = torch.einsum("btk,bkaf->btaf", w, onehot[..., None] * phi[:, :, None, :])  # (B, T', A, 3)
        n = sums[..., :1]
        means = sums[..., 1:] / n.clamp(min=1e-6).where(n > 1e-6, torch.ones_like(n))
        return [(n > 1e-6).float(), torch.log1p(n), means]


class EpisodeStateActionStats(StateActionStats):
    """``episode_state_action``: as ``state_action``, with the state taken to be the observation
    *and the reward earned so far in the episode* (within the window): steps of another phase of
    an episode (before or after a key was found, a subgoal reached) do not count. Without
    episodes (the bandits: every step ends one) it equals ``state_action``."""

    name = "episode_state_action"

    def _likeness(self, obs, last, rewards=None, dones=None):
        w = super()._likeness(obs, last)
        if dones is None:
            return w
        phase = episode_phase(rewards, dones)
        now = phase[:, last]
        return w * (now[:, :, None] == phase[:, None, :]).float()


def returns_to_go(rewards: torch.Tensor, dones: torch.Tensor | None, own: bool = True
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pieces of each step's return-to-go within its episode, as seen from a later step.

    ``rewards``, ``dones`` ``(B, T)``. Returns ``(paid, start, ends, full)``: ``paid`` ``(B, T + 1)``,
    the window's reward before index ``j`` (an exclusive cumulative sum, ``j <= T``); ``start``
    ``(B, T)``, ``paid`` where step ``k``'s return starts counting (at ``k``, or after it without
    ``own``, its own reward left out); ``ends[k]`` the index just after the last step of ``k``'s
    episode (``T + 1`` if it has not ended in the window) and ``full[k] = paid[ends[k]] - start[k]``
    its whole return. Seen from a readout step ``t > k``, the return of ``k`` is ``full[k]`` when
    ``ends[k] <= t`` and ``paid[t] - start[k]`` (what its episode has paid since, up to ``t - 1``)
    otherwise: never a reward at ``t`` or later. Without ``dones`` every step ends its episode.
    Each difference is of two partial sums of the same running sum, so a step whose episode paid
    nothing after it gets exactly 0.
    """
    r = rewards.float()
    B, T = r.shape
    paid = torch.cat([torch.zeros_like(r[:, :1]), torch.cumsum(r, 1)], 1)  # (B, T + 1)
    k = torch.arange(T, device=r.device).expand(B, T)
    if dones is None:
        ends = k + 1
    else:
        last = torch.where(dones.bool(), k, torch.full_like(k, T))  # an episode's last step, or T
        ends = torch.flip(torch.cummin(torch.flip(last, [1]), 1).values, [1]) + 1
    start = paid[:, :T] if own else paid[:, 1:]
    full = paid.gather(1, ends.clamp(max=T)) - start
    return paid, start, ends, full


class StateReturnStats(StateActionStats):
    """``state_return``: per action, the mean return-to-go (within its episode) of the earlier
    steps that took it in states like the current one, with the weights of ``state_action``.

    A Monte-Carlo estimate of each action's value here, read from the context alone (the
    every-visit estimate of Sutton & Barto, ch. 5, over the window): an action taken in this
    cell on the way to the goal scores the rewards that followed it in its episode, not only its
    own. Causal: seen from readout ``t``, a step ``k < t`` of an episode still running counts the
    rewards its episode earned up to ``t - 1`` (``returns_to_go``). Features ``(B, T', A, 2)``:
    the weighted mean return-to-go and ``log(1 + `` its weighted sum ``)`` (sign kept). Without
    episodes (the bandits: every step ends one) the mean equals ``state_action``'s mean reward.
    """

    name, width = "state_return", 2
    own_reward = True  # whether a step's return counts its own reward

    def extras(self, pool: Pool) -> list[torch.Tensor]:
        obs, actions, rewards, dones = pool.window
        T = actions.shape[1]
        w = self._likeness(obs, pool.last, rewards, dones)  # (B, T', T), steps k < t only
        paid, start, ends, full = returns_to_go(rewards, dones, self.own_reward)
        now = paid[:, :T][:, pool.last, None]  # (B, T', 1): the window's reward before each readout
        t = torch.arange(T, device=actions.device)[pool.last]  # (T',)
        done = (ends[:, None, :] <= t[None, :, None]).float()  # (B, T', T): k's episode ended before t
        n = pool.by_action(w)  # (B, T', A)
        finished = pool.by_action(w * done * full[:, None, :])
        running = w * (1.0 - done)
        paid = pool.by_action(running) * now - pool.by_action(running * start[:, None, :])
        total = (finished + paid)[..., None]  # (B, T', A, 1)
        n = n[..., None]
        mean = total / n.clamp(min=1e-6).where(n > 1e-6, torch.ones_like(n))
        return [mean, torch.sign(total) * torch.log1p(total.abs())]


class EpisodeReturnStats(StateReturnStats, EpisodeStateActionStats):
    """``episode_return``: per action, the mean return that *followed* it in its episode (the
    rewards after the step, not its own), over the earlier steps that took it in this state and
    this phase of the episode (the weights of ``episode_state_action``: the same observation, or
    its kernel, and the same reward earned so far in the episode).

    With ``state_action``'s mean reward beside it, the two add up to the every-visit Monte-Carlo
    estimate of the action's value here (Sutton & Barto, ch. 5). Two differences from
    ``state_return``: a cell crossed in two phases (before and after a key) keeps one value per
    phase, and a task family whose steps each end their episode (the bandits) gets zero features,
    so the block says nothing where it has nothing to add. Causal as ``state_return``; features
    ``(B, T', A, 2)``. On the darkroom, where the first reward ends the episode, its weights are
    ``state_return``'s.
    """

    name = "episode_return"
    own_reward = False
