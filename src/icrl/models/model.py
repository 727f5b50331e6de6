"""AD and Headless-AD: token layouts, action embeddings, heads and losses on top of ``Decoder``.

Token layouts (``ModelConfig.layout``), for a window of steps ``s..t`` with observations ``o``,
actions ``a`` and rewards ``r``:

* ``interleaved`` (the paper's): ``[BOS, o_s, a_s, r_s, o_{s+1}, a_{s+1}, r_{s+1}, ...]``, one token
  per observation, action and reward (no observation tokens when the env has none). The action
  ``a_k`` is predicted from the token right before it.
* ``compact``: one token per step, ``x_k = obs(o_k) + prev_obs(o_{k-1}) + act(a_{k-1}) + rew(r_{k-1})``:
  the current observation and the whole previous transition (a learned start vector in its place
  at the window's first step); ``a_k`` is predicted from ``x_k``. 2-3x fewer tokens. Carrying the
  previous observation lets one attention hop find "what was done, and what it paid, in a state
  like this one"; without it the model must first learn to pass observations one token forward.

Headless-AD prepends the *action-set prompt*: one token per available action (its embedding), all
at position 0 and seeing each other in both directions, so the model is equivariant to the order
of the action set. Padding slots of shorter action sets are masked out of attention, not zeroed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..errors import IcrlError
from .backbone import Decoder
from .kinds import model_kind

PROMPT, BOS, OBS, ACTION, REWARD, STEP = range(6)


class ActionSetTooLarge(IcrlError, ValueError):
    pass


def sample_action_embeddings(batch: int, num_actions: int, dim: int, kind: str, generator=None, device="cpu"):
    """Random action embeddings (batch, num_actions, dim), drawn independently per sequence.

    ``orthonormal``: the rows are orthonormal (a Haar-random frame from a QR decomposition), which
    needs ``num_actions <= dim``. ``gaussian``: i.i.d. N(0, 1/dim) entries (unit norm on average).
    """
    if kind == "orthonormal":
        if num_actions > dim:
            raise ActionSetTooLarge(
                f"an action set of {num_actions} actions does not fit orthonormal embeddings of "
                f"dimension {dim} (model.action_dim); use at most {dim} actions or model.embeddings=gaussian"
            )
        g = torch.randn(batch, dim, num_actions, generator=generator, device=device)
        q, r = torch.linalg.qr(g)
        q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
        return q.transpose(1, 2).contiguous()
    if kind == "gaussian":
        return torch.randn(batch, num_actions, dim, generator=generator, device=device) / math.sqrt(dim)
    raise ValueError(f"unknown embedding kind {kind!r}; allowed: orthonormal, gaussian")


def action_mask(num_actions: torch.Tensor, width: int) -> torch.Tensor:
    return torch.arange(width, device=num_actions.device)[None, :] < num_actions[:, None]


class ActionStats(nn.Module):
    """Per-action statistics of the context, scored by a small network shared by all actions.

    ``model.action_stats``: an attention pattern fixed by design rather than learned, in the
    spirit of n-gram heads (Zisman et al., 2024): for each available action ``a`` and readout
    step ``t``, the steps ``k < t`` of the window that took ``a`` are pooled: their count ``n``,
    and the means of ``phi_k = (1, r_k, o_k, r_k * o_k)`` (observation terms for vector
    observations only: the per-arm sufficient statistics of a linear reward model). A shared MLP
    (2 hidden layers of 32) scores ``(means, n > 0, log(1 + n), log(1 + t), mean(r o) * o_t, o_t,
    h_t)``, where ``h_t`` is the decoder's readout; the score is added to the action's logit. The rule is the same for
    every action, so the model stays equivariant to the order of the action set and works for
    any number of actions (the statistics are exactly what a bandit algorithm keeps, but how to
    act on them is learned from the teacher).

    ``effects`` (``model.action_effects``, discrete observations only): what each action *does*,
    for environments whose actions move the agent (the darkroom's compound actions). A learned
    observation embedding ``e`` (``effect_dim`` wide) gives every step ``k`` that did not end its
    episode the change ``e(o_{k+1}) - e(o_k)``; its mean over the steps that took ``a`` is the
    action's effect (a displacement, once ``e`` has learned the grid's coordinates). The means of
    ``r_k e(o_k)`` (where ``a`` paid from), ``e(o_t)`` and their product join the features. So
    does a one-step lookahead: ``g``, the reward-weighted mean over the earlier rewarded steps of
    ``e(o_k)`` plus the effect of the action taken there (where reward was found), and for each
    action ``e(o_t) + effect_a - g`` and its squared norm (how far taking it lands from there;
    zero, with a flag, before any reward). A summary of the whole action set (the mean of every
    available action's first-layer activations, passed through a linear map) is added to each
    action's, so that one action's score can depend on what the others revealed. A set network
    (DeepSets) over the actions: still equivariant to their order and open to any number.
    """

    def __init__(self, obs_kind: str, obs_dim: int, d_model: int, hidden: int = 32,
                 effects: bool = False, effect_dim: int = 16):
        super().__init__()
        self.vector = obs_kind == "vector"
        self.obs_dim = obs_dim if self.vector else 0
        if effects and obs_kind != "discrete":
            raise ValueError(f"action effects need discrete observations, not {obs_kind!r}")
        self.effect_dim = effect_dim if effects else 0
        # The MLP's first layer, split: its decoder part is computed once per step, not per action.
        extra = 5 * self.effect_dim + 2 if effects else 0
        self.features = nn.Linear((2 + 2 * self.obs_dim) + 3 + 2 * self.obs_dim + extra, hidden)
        self.context = nn.Linear(d_model, hidden, bias=False)
        if effects:
            self.cell = nn.Embedding(obs_dim, effect_dim)
            self.summary = nn.Linear(hidden, hidden)
        # No output bias: a constant added to every action's logit leaves the softmax unchanged, so
        # its gradient is rounding noise, which Adam would turn into steps of size lr.
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1, bias=False))

    def forward(self, obs, actions, rewards, dones, hidden, num_actions, width: int, last_only: bool = False):
        """Scores ``(B, T, A)`` (``(B, A)`` with ``last_only``).

        ``obs``, ``actions``, ``rewards``, ``dones``: the window ``(B, T, ...)``; the last step's
        action, reward and end flag are ignored (only steps before a readout count).
        ``hidden``: readouts ``(B, T, d)``, or ``(B, d)`` of the last step with ``last_only`` (the
        acting agent's case). ``num_actions`` ``(B,)``: the set summary averages over these only.
        """
        B, T = actions.shape
        r = rewards.float()[..., None]
        phi = [torch.ones_like(r), r]
        if self.vector:
            o = obs.float()
            phi += [o, r * o]
        if self.effect_dim:
            if dones is None:
                raise ValueError("action effects need the window's episode ends (dones)")
            e = self.cell(obs.long())  # (B, T, m)
            moves = (~dones.bool()).to(e.dtype)[..., None]  # a step that ended its episode moved nowhere
            change = torch.cat([e[:, 1:] - e[:, :-1], torch.zeros_like(e[:, :1])], dim=1)
            phi += [moves, moves * change, r * e]
        phi = torch.cat(phi, dim=-1)  # (B, T, F)
        onehot = F.one_hot(actions.long().clamp(min=0), width).to(phi.dtype)  # (B, T, A)
        if last_only:
            sums = torch.einsum("bta,btf->baf", onehot[:, :-1], phi[:, :-1])[:, None]  # (B, 1, A, F)
            steps = torch.full((1, 1, 1, 1), float(T - 1), device=phi.device)
            last = slice(T - 1, T)
            hidden = hidden[:, None]
        else:
            joint = onehot[..., None] * phi[:, :, None, :]  # (B, T, A, F)
            sums = joint.cumsum(1) - joint  # steps k < t only
            steps = torch.arange(T, device=phi.device, dtype=phi.dtype)[None, :, None, None]
            last = slice(0, T)
        n = sums[..., :1]
        means = sums / n.clamp(min=1.0)
        base = 2 + 2 * self.obs_dim
        feats = [means[..., :base], (n > 0).to(phi.dtype), torch.log1p(n), torch.log1p(steps).expand_as(n)]
        if self.vector:
            now = o[:, last, None, :].expand(-1, -1, width, -1)
            feats += [means[..., 2 + self.obs_dim:base] * now, now]
        if self.effect_dim:
            m = self.effect_dim
            moved = sums[..., base:base + 1]
            effect = sums[..., base + 1:base + 1 + m] / moved.clamp(min=1.0)
            paid_from = means[..., base + 1 + m:]
            now = e[:, last, None, :].expand(-1, -1, width, -1)
            # Where reward was found: over the rewarded steps k < t, e(o_k) plus the (current)
            # effect of the action taken there, reward-weighted; then each action's lookahead
            # e(o_t) + effect_a relative to it. Every sum runs over actions, so padding adds 0.
            paid = sums[..., 1:2]  # (B, T', A, 1): the rewards each action earned
            total = paid.sum(2, keepdim=True)
            found = (total > 0).to(phi.dtype)
            goal = (sums[..., base + 1 + m:] + effect * paid).sum(2, keepdim=True) / total.where(total > 0, torch.ones_like(total))
            ahead = (now + effect - goal) * found
            feats += [effect, paid_from, paid_from * now, now, ahead, ahead.pow(2).sum(-1, keepdim=True),
                      found.expand_as(n)]
        first = self.features(torch.cat(feats, dim=-1)) + self.context(hidden.to(phi.dtype))[:, :, None, :]
        if self.effect_dim:
            valid = action_mask(num_actions, width).to(first.dtype)[:, None, :, None]  # (B, 1, A, 1)
            pooled = (F.silu(first) * valid).sum(2, keepdim=True) / valid.sum(2, keepdim=True).clamp(min=1.0)
            first = first + self.summary(pooled)
        scores = self.mlp(first).squeeze(-1)
        return scores[:, 0] if last_only else scores


class InContextModel(nn.Module):
    """A decoder over learning histories that predicts the next action (AD or Headless-AD)."""

    def __init__(self, cfg: ModelConfig, obs_kind: str, obs_dim: int):
        super().__init__()
        self.cfg = cfg
        self.obs_kind, self.obs_dim = obs_kind, obs_dim
        self.kind = model_kind(cfg.kind)
        self.headless = self.kind.headless
        self.use_prompt = self.headless and cfg.prompt
        d = cfg.d_model
        self.obs_embed = self._obs_table(obs_kind, obs_dim, d)
        # compact: the previous observation has a table of its own (a different role in the token)
        self.prev_obs_embed = self._obs_table(obs_kind, obs_dim, d) if cfg.layout == "compact" else None
        self.reward_embed = nn.Linear(1, d)
        self.type_embed = nn.Embedding(6, d)
        if cfg.layout == "compact":  # stands in for the previous action and reward at a window's start
            self.start = nn.Parameter(torch.zeros(d))
        if self.headless:
            self.action_in = nn.Linear(cfg.action_dim, d, bias=False)
            self.head = nn.Linear(d, cfg.action_dim)
        else:
            self.action_table = nn.Embedding(cfg.max_actions, d)
            self.head = nn.Linear(d, cfg.max_actions)
        self.decoder = Decoder(cfg.num_layers, d, cfg.num_heads, cfg.dropout, cfg.attn_dropout)
        self.stats = ActionStats(obs_kind, obs_dim, d, effects=cfg.action_effects) if cfg.action_stats else None
        for m in (self.reward_embed, self.head, *(m for m in self.modules() if isinstance(m, nn.Embedding))):
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias) if m.bias is not None else None
            else:
                nn.init.normal_(m.weight, std=0.02)
        if self.headless:
            nn.init.normal_(self.action_in.weight, std=0.02)

    # -- token layout ----------------------------------------------------------------------------
    @property
    def has_obs(self) -> bool:
        return self.obs_embed is not None

    @property
    def tokens_per_step(self) -> int:
        return 1 if self.cfg.layout == "compact" else 2 + int(self.has_obs)

    def num_prompt_tokens(self, width: int) -> int:
        return width if self.use_prompt else 0

    def window_length(self, steps: int, width: int, partial_last: bool) -> int:
        """Tokens of a window of ``steps`` steps (the last one partial: its action is still to come)."""
        if self.cfg.layout == "compact":
            n = steps
        else:
            n = 1 + steps * self.tokens_per_step - (2 if partial_last else 0)
        return self.num_prompt_tokens(width) + n

    def readout_index(self, steps: int, prompt_len: int) -> torch.Tensor:
        """Positions whose outputs predict the window's actions."""
        j = torch.arange(steps)
        idx = j if self.cfg.layout == "compact" else j * self.tokens_per_step + self.tokens_per_step - 2
        return idx + prompt_len

    @staticmethod
    def _obs_table(obs_kind, obs_dim, d):
        if obs_kind == "vector":
            return nn.Linear(obs_dim, d)
        return nn.Embedding(obs_dim, d) if obs_kind == "discrete" else None

    def _embed_obs(self, obs, table=None):
        table = self.obs_embed if table is None else table
        return table(obs.float()) if self.obs_kind == "vector" else table(obs.long())

    def _embed_actions(self, actions, action_emb):
        if self.headless:
            index = actions.long().clamp(min=0)[..., None].expand(*actions.shape, action_emb.shape[-1])
            return self.action_in(torch.gather(action_emb, 1, index))
        return self.action_table(actions.long().clamp(min=0))

    def _embed_rewards(self, rewards):
        return self.reward_embed(rewards.float()[..., None])

    def prompt_tokens(self, action_emb, num_actions):
        """(B, P, d) prompt tokens and their validity (B, P); P = 0 without a prompt."""
        B, width = num_actions.shape[0], action_emb.shape[1] if action_emb is not None else 0
        if not self.use_prompt:
            return torch.zeros(B, 0, self.cfg.d_model, device=num_actions.device), torch.zeros(B, 0, dtype=torch.bool, device=num_actions.device)
        tokens = self.action_in(action_emb) + self.type_embed.weight[PROMPT]
        return tokens, action_mask(num_actions, width)

    def step_tokens(self, obs, actions, rewards, action_emb, partial_last: bool):
        """Tokens of a window of consecutive steps, without the prompt: (B, L, d).

        ``partial_last``: the last step's action and reward are not known yet (acting).
        """
        B, T = actions.shape
        te = self.type_embed.weight
        if self.cfg.layout == "compact":
            prev = self._embed_actions(actions, action_emb) + self._embed_rewards(rewards) + te[ACTION]
            if self.has_obs:
                prev = prev + self._embed_obs(obs, self.prev_obs_embed)
            tokens = torch.cat([self.start.expand(B, 1, -1), prev[:, :-1]], dim=1) + te[STEP]
            return tokens + self._embed_obs(obs) if self.has_obs else tokens
        parts = []
        if self.has_obs:
            parts.append(self._embed_obs(obs) + te[OBS])
        parts.append(self._embed_actions(actions, action_emb) + te[ACTION])
        parts.append(self._embed_rewards(rewards) + te[REWARD])
        tokens = torch.stack(parts, dim=2).reshape(B, T * len(parts), -1)
        tokens = torch.cat([te[BOS].expand(B, 1, -1), tokens], dim=1)
        return tokens[:, :-2] if partial_last else tokens

    def next_step_tokens(self, prev_obs, prev_actions, prev_rewards, obs, action_emb):
        """Tokens that extend a context ending in a partial step by that step's action and reward
        and the next observation: exactly the tokens ``step_tokens`` puts there. (B, k, d)."""
        te = self.type_embed.weight
        act = self._embed_actions(prev_actions[:, None], action_emb) + te[ACTION]
        rew = self._embed_rewards(prev_rewards[:, None])
        if self.cfg.layout == "compact":
            tokens = act + rew + te[STEP]
            if self.has_obs:
                tokens = tokens + self._embed_obs(prev_obs[:, None], self.prev_obs_embed) + self._embed_obs(obs[:, None])
            return tokens
        parts = [act, rew + te[REWARD]]
        if self.has_obs:
            parts.append(self._embed_obs(obs[:, None]) + te[OBS])
        return torch.cat(parts, dim=1)

    # -- training --------------------------------------------------------------------------------
    def forward_window(self, obs, actions, rewards, num_actions, action_emb, partial_last=False):
        """Decoder outputs at every readout position of a window (B, T, d)."""
        B, T = actions.shape
        prompt, prompt_valid = self.prompt_tokens(action_emb, num_actions)
        tokens = torch.cat([prompt, self.step_tokens(obs, actions, rewards, action_emb, partial_last)], dim=1)
        L, P = tokens.shape[1], prompt.shape[1]
        key_valid = torch.cat([prompt_valid, torch.ones(B, L - P, dtype=torch.bool, device=tokens.device)], dim=1)
        i = torch.arange(L, device=tokens.device)
        allowed = (i[None, :] <= i[:, None]) | (i[None, :] < P)
        mask = (allowed[None] & key_valid[:, None, :])[:, None]
        positions = torch.cat([torch.zeros(P, device=tokens.device), torch.arange(1, L - P + 1, device=tokens.device)])
        hidden = self.decoder(tokens, positions.expand(B, L), mask)
        steps = T
        return hidden[:, self.readout_index(steps, P).to(tokens.device)]

    def logits(self, hidden, num_actions, action_emb, width: int | None = None, window=None):
        """Scores of the available actions (B, ..., A); unavailable actions get -inf.

        Headless-AD with InfoNCE: dot product of the predicted and action embeddings over tau.
        With the MSE ablation: minus the squared distance (nearest neighbour wins). AD: its head.
        With ``model.action_stats``, ``window=(obs, actions, rewards, dones)`` of the readouts adds the
        per-action statistics' scores (``ActionStats``; ``hidden`` (B, d) means the last step).
        """
        if self.headless:
            pred = self.head(hidden)
            if self.cfg.loss == "mse":
                emb = action_emb.float().view(action_emb.shape[0], *([1] * (pred.dim() - 2)), *action_emb.shape[1:])
                scores = -(pred.float().unsqueeze(-2) - emb).pow(2).sum(-1)
            else:
                scores = torch.einsum("b...d,bad->b...a", pred.float(), action_emb.float()) / self.cfg.tau
            width = action_emb.shape[1]
        else:
            width = width or int(num_actions.max())
            if width > self.cfg.max_actions:
                raise ActionSetTooLarge(f"AD was built for at most {self.cfg.max_actions} actions (model.max_actions); got {width}")
            scores = self.head(hidden).float()[..., :width]
        if self.stats is not None and window is not None:
            scores = scores + self.stats(*window, hidden, num_actions, width, last_only=hidden.dim() == 2).float()
        mask = action_mask(num_actions, width)
        mask = mask.view(mask.shape[0], *([1] * (scores.dim() - 2)), width)
        return scores.masked_fill(~mask, float("-inf"))

    def loss(self, batch: dict, action_emb, width: int | None = None) -> tuple[torch.Tensor, dict]:
        """Next-action loss over a batch of windows; unavailable actions never enter it.

        ``batch``: ``observations``, ``actions``, ``rewards``, ``dones`` (needed by
        ``model.action_effects`` only) ``(B, T, ...)``, ``num_actions`` ``(B,)``
        and, with ``data.targets=policy``, ``policy`` ``(B, T, A)``: the teacher's distribution,
        the cross-entropy target instead of the one action it took (the MSE ablation ignores it).

        ``width``: the widest action set the batch may hold (the trainer passes the dataset's, so
        that no step has to read ``num_actions`` back from the device).
        """
        actions, num_actions = batch["actions"], batch["num_actions"]
        window = (batch["observations"], actions, batch["rewards"], batch.get("dones"))
        hidden = self.forward_window(*window[:3], num_actions, action_emb)
        width = width or int(num_actions.max())
        if self.headless and self.cfg.loss == "mse":
            pred = self.head(hidden).float()
            target = torch.gather(action_emb.float(), 1, actions[..., None].expand(-1, -1, action_emb.shape[-1]))
            loss = (pred - target).pow(2).sum(-1).mean()
            logits = self.logits(hidden, num_actions, action_emb)
        else:
            logits = self.logits(hidden, num_actions, action_emb, width, window)
            log_probs = F.log_softmax(logits, dim=-1)
            if batch.get("policy") is not None:  # data.targets=policy: cross-entropy to the teacher's distribution
                target = batch["policy"][..., : log_probs.shape[-1]]
                nll = -(target * log_probs.masked_fill(target == 0, 0.0)).sum(-1)
            else:
                nll = -torch.gather(log_probs, -1, actions[..., None]).squeeze(-1)
            if not self.headless and self.cfg.label_smoothing > 0:
                # Smooth over the *available* actions only: the masked ones hold -inf log-probs.
                avail = action_mask(num_actions, width)[:, None, :]
                uniform = -(log_probs.masked_fill(~avail, 0.0).sum(-1)) / num_actions[:, None].float()
                nll = (1 - self.cfg.label_smoothing) * nll + self.cfg.label_smoothing * uniform
            loss = nll.mean()
        choice = logits.argmax(-1)
        if batch.get("policy") is not None and not (self.headless and self.cfg.loss == "mse"):
            # soft targets: the top choice is one of the target's most likely actions (an optimum)
            top = torch.gather(target, -1, choice[..., None]).squeeze(-1)
            accuracy = (top >= target.max(-1).values).float().mean()
        else:
            accuracy = (choice == actions).float().mean()
        # Tensors, not floats: reading them would synchronise with the device at every step.
        return loss, {"loss": loss.detach(), "accuracy": accuracy.detach()}

    def forward(self, batch: dict, action_emb, width: int | None = None):
        """The training loss (``forward`` so that DistributedDataParallel can wrap the model)."""
        return self.loss(batch, action_emb, width)
