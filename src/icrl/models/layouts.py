"""Token layouts (``model.layout``): how a window of steps becomes decoder tokens.

For a window of steps ``s..t`` with observations ``o``, actions ``a`` and rewards ``r``:

* ``interleaved`` (the paper's): ``[BOS, o_s, a_s, r_s, o_{s+1}, a_{s+1}, r_{s+1}, ...]``, one token
  per observation, action and reward (no observation tokens when the env has none). The action
  ``a_k`` is predicted from the token right before it.
* ``compact``: one token per step, ``x_k = obs(o_k) + prev_obs(o_{k-1}) + act(a_{k-1}) + rew(r_{k-1})``:
  the current observation and the whole previous transition (a learned start vector in its place
  at the window's first step); ``a_k`` is predicted from ``x_k``. 2-3x fewer tokens. Carrying the
  previous observation lets one attention hop find "what was done, and what it paid, in a state
  like this one"; without it the model must first learn to pass observations one token forward.

A layout owns its token types, the step tokens of a window and of one more step (the cached
agent's), which positions read out the actions, and a window's length in tokens. Actions come in
already embedded by the model's action interface (``(B, T, d)``).
"""

from __future__ import annotations

import torch
from torch import nn

PROMPT, BOS, OBS, ACTION, REWARD, STEP = range(6)  # token types


def observation_table(obs_kind: str, obs_dim: int, d: int):
    """The observation embedding: linear for vectors, a table for discrete cells, None without."""
    if obs_kind == "vector":
        return nn.Linear(obs_dim, d)
    return nn.Embedding(obs_dim, d) if obs_kind == "discrete" else None


class Layout(nn.Module):
    name = ""
    previous_observation = False  # a second observation table, for the previous step's

    def __init__(self, obs_kind: str, obs_dim: int, d: int):
        super().__init__()
        self.obs_kind = obs_kind
        self.obs_embed = observation_table(obs_kind, obs_dim, d)
        self.prev_obs_embed = observation_table(obs_kind, obs_dim, d) if self.previous_observation else None
        self.reward_embed = nn.Linear(1, d)
        self.type_embed = nn.Embedding(6, d)

    @property
    def has_obs(self) -> bool:
        return self.obs_embed is not None

    def embed_obs(self, obs, table=None):
        table = self.obs_embed if table is None else table
        return table(obs.float()) if self.obs_kind == "vector" else table(obs.long())

    def embed_rewards(self, rewards):
        return self.reward_embed(rewards.float()[..., None])

    def mark_prompt(self, tokens):
        """The action-set prompt's tokens ``(B, P, d)`` with their token type."""
        return tokens + self.type_embed.weight[PROMPT]

    # -- per layout ----------------------------------------------------------------------------------
    tokens_per_step: int

    def step_count(self, steps: int, partial_last: bool) -> int:
        """Tokens of ``steps`` steps, without the prompt (the last one partial: its action is to come)."""
        raise NotImplementedError

    def readout_index(self, steps: int) -> torch.Tensor:
        """Positions (after the prompt) whose outputs predict the window's ``steps`` actions."""
        raise NotImplementedError

    def step_tokens(self, obs, actions, rewards, partial_last: bool):
        """Tokens ``(B, L, d)`` of a window; ``actions`` ``(B, T, d)`` embedded."""
        raise NotImplementedError

    def next_step_tokens(self, prev_obs, prev_action, prev_reward, obs):
        """Tokens ``(B, k, d)`` that extend a context ending in a partial step by that step's
        (embedded) action ``(B, 1, d)`` and reward ``(B,)`` and the next observation: exactly the
        tokens ``step_tokens`` puts there."""
        raise NotImplementedError


class Interleaved(Layout):
    name = "interleaved"

    def __init__(self, obs_kind, obs_dim, d):
        super().__init__(obs_kind, obs_dim, d)
        self.tokens_per_step = 2 + int(self.has_obs)

    def step_count(self, steps, partial_last):
        return 1 + steps * self.tokens_per_step - (2 if partial_last else 0)

    def readout_index(self, steps):
        return torch.arange(steps) * self.tokens_per_step + self.tokens_per_step - 2

    def step_tokens(self, obs, actions, rewards, partial_last):
        B, T = actions.shape[:2]
        te = self.type_embed.weight
        parts = [self.embed_obs(obs) + te[OBS]] if self.has_obs else []
        parts += [actions + te[ACTION], self.embed_rewards(rewards) + te[REWARD]]
        tokens = torch.stack(parts, dim=2).reshape(B, T * len(parts), -1)
        tokens = torch.cat([te[BOS].expand(B, 1, -1), tokens], dim=1)
        return tokens[:, :-2] if partial_last else tokens

    def next_step_tokens(self, prev_obs, prev_action, prev_reward, obs):
        te = self.type_embed.weight
        parts = [prev_action + te[ACTION], self.embed_rewards(prev_reward[:, None]) + te[REWARD]]
        if self.has_obs:
            parts.append(self.embed_obs(obs[:, None]) + te[OBS])
        return torch.cat(parts, dim=1)


class Compact(Layout):
    name = "compact"
    previous_observation = True
    tokens_per_step = 1

    def __init__(self, obs_kind, obs_dim, d):
        super().__init__(obs_kind, obs_dim, d)
        self.start = nn.Parameter(torch.zeros(d))  # the previous action and reward at a window's start

    def step_count(self, steps, partial_last):
        return steps

    def readout_index(self, steps):
        return torch.arange(steps)

    def step_tokens(self, obs, actions, rewards, partial_last):
        B = actions.shape[0]
        te = self.type_embed.weight
        prev = actions + self.embed_rewards(rewards) + te[ACTION]
        if self.has_obs:
            prev = prev + self.embed_obs(obs, self.prev_obs_embed)
        tokens = torch.cat([self.start.expand(B, 1, -1), prev[:, :-1]], dim=1) + te[STEP]
        return tokens + self.embed_obs(obs) if self.has_obs else tokens

    def next_step_tokens(self, prev_obs, prev_action, prev_reward, obs):
        te = self.type_embed.weight
        tokens = prev_action + te[ACTION] + self.embed_rewards(prev_reward[:, None]) + te[STEP]
        if self.has_obs:
            tokens = tokens + self.embed_obs(prev_obs[:, None], self.prev_obs_embed) + self.embed_obs(obs[:, None])
        return tokens


LAYOUTS: dict[str, type[Layout]] = {c.name: c for c in (Interleaved, Compact)}
