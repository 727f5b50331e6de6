"""AD and Headless-AD: a decoder over learning histories that predicts the next action.

The model is a composition of parts, each in its own file with its own rules:

* the **action interface** (``actions.py``, chosen by the model kind): how context actions are
  represented, the action-set prompt, how the available actions are scored, the action limit and
  the training temperature (embedded: Headless-AD; indexed: AD, DPT);
* the **token layout** (``layouts.py``, ``model.layout``): interleaved or compact tokens, the
  readout positions, a window's length;
* the **decoder** (``backbone.py``);
* optional **context features** (``features.py``, ``model.action_stats`` and its blocks): scores
  from per-action statistics of the context, added to the interface's;
* the **losses** (``losses.py``).

Headless-AD prepends the *action-set prompt*: one token per available action, all at position 0
and seeing each other in both directions, so the model is equivariant to the order of the action
set. Padding slots of shorter action sets are masked out of attention, not zeroed.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from .actions import ActionSetTooLarge, action_mask, sample_action_embeddings  # noqa: F401  (re-exported)
from .backbone import Decoder
from .features import context_scorer
from .kinds import model_kind
from .layouts import LAYOUTS
from .losses import cross_entropy, embedding_mse


class InContextModel(nn.Module):
    """``drawn`` below is the batch's action representation from ``actions.draw`` (Headless-AD's
    per-sequence embeddings ``(B, width, action_dim)``; None for AD)."""

    def __init__(self, cfg: ModelConfig, obs_kind: str, obs_dim: int):
        super().__init__()
        self.cfg, self.obs_kind, self.obs_dim = cfg, obs_kind, obs_dim
        self.kind = model_kind(cfg.kind)
        self.layout = LAYOUTS[cfg.layout](obs_kind, obs_dim, cfg.d_model)
        self.actions = self.kind.action_interface(cfg)
        self.decoder = Decoder(cfg.num_layers, cfg.d_model, cfg.num_heads, cfg.dropout, cfg.attn_dropout)
        self.stats = context_scorer(cfg, obs_kind, obs_dim)
        # GPT-style initialisation of the inputs and the head (the decoder initialises itself)
        for m in (self.layout.reward_embed, self.actions.head, *(m for m in self.modules() if isinstance(m, nn.Embedding))):
            nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        for m in self.actions.input_maps():
            nn.init.normal_(m.weight, std=0.02)

    # -- tokens ----------------------------------------------------------------------------------
    @property
    def has_obs(self) -> bool:
        return self.layout.has_obs

    def window_length(self, steps: int, width: int, partial_last: bool) -> int:
        """Tokens of a window of ``steps`` steps (the last one partial: its action is still to come)."""
        return self.actions.prompt_length(width) + self.layout.step_count(steps, partial_last)

    def readout_index(self, steps: int, prompt_len: int) -> torch.Tensor:
        """Positions whose outputs predict the window's actions."""
        return self.layout.readout_index(steps) + prompt_len

    def prompt_tokens(self, drawn, num_actions):
        """(B, P, d) prompt tokens and their validity (B, P); P = 0 without a prompt."""
        tokens, valid = self.actions.prompt(drawn, num_actions)
        return self.layout.mark_prompt(tokens), valid

    def step_tokens(self, obs, actions, rewards, drawn, partial_last: bool):
        """Tokens of a window of consecutive steps ``(B, T, ...)``, without the prompt: (B, L, d).
        ``partial_last``: the last step's action and reward are not known yet (acting)."""
        return self.layout.step_tokens(obs, self.actions.embed(actions, drawn), rewards, partial_last)

    def next_step_tokens(self, prev_obs, prev_actions, prev_rewards, obs, drawn):
        """Tokens (B, k, d) that extend a context ending in a partial step by that step's action
        ``(B,)`` and reward ``(B,)`` and the next observation."""
        return self.layout.next_step_tokens(prev_obs, self.actions.embed(prev_actions[:, None], drawn), prev_rewards, obs)

    # -- scoring ---------------------------------------------------------------------------------
    def forward_window(self, obs, actions, rewards, num_actions, drawn, partial_last=False):
        """Decoder outputs at every readout position of a window (B, T, d)."""
        B, T = actions.shape
        prompt, prompt_valid = self.prompt_tokens(drawn, num_actions)
        tokens = torch.cat([prompt, self.step_tokens(obs, actions, rewards, drawn, partial_last)], dim=1)
        L, P = tokens.shape[1], prompt.shape[1]
        key_valid = torch.cat([prompt_valid, torch.ones(B, L - P, dtype=torch.bool, device=tokens.device)], dim=1)
        i = torch.arange(L, device=tokens.device)
        allowed = (i[None, :] <= i[:, None]) | (i[None, :] < P)
        mask = (allowed[None] & key_valid[:, None, :])[:, None]
        positions = torch.cat([torch.zeros(P, device=tokens.device), torch.arange(1, L - P + 1, device=tokens.device)])
        hidden = self.decoder(tokens, positions.expand(B, L), mask)
        return hidden[:, self.readout_index(T, P).to(tokens.device)]

    def logits(self, hidden, num_actions, drawn, width: int | None = None, window=None, readouts=None):
        """Scores of the available actions (B, ..., A); unavailable actions get -inf.

        ``hidden``: decoder outputs (B, T, d), or (B, d) for the last step only. ``width``: the
        action slots (default: those of ``drawn``, else the widest set). With context features,
        ``window=(obs, actions, rewards, dones)`` of the readouts adds their scores; ``readouts``
        ``(T',)``: ``hidden`` is ``(B, T', d)``, the outputs of those steps of the window only.
        """
        width = drawn.shape[1] if drawn is not None else (width or int(num_actions.max()))
        scores = self.actions.scores(hidden, drawn, width)
        if self.stats is not None and window is not None:
            scores = scores + self.stats(*window, hidden, num_actions, width, last_only=hidden.dim() == 2,
                                         readouts=readouts).float()
        mask = action_mask(num_actions, width)
        mask = mask.view(mask.shape[0], *([1] * (scores.dim() - 2)), width)
        return scores.masked_fill(~mask, float("-inf"))

    # -- training --------------------------------------------------------------------------------
    def loss(self, batch: dict, drawn, width: int | None = None) -> tuple[torch.Tensor, dict]:
        """Next-action loss over a batch of windows (``losses.py``), plus ``model.transition_loss``
        times the effect blocks' transition loss when that weight is set (the metrics' ``loss`` is
        the next-action loss alone, comparable across runs; ``transition_loss`` is logged beside it).

        ``batch``: ``observations``, ``actions``, ``rewards``, ``dones`` (read by the action
        effects only) ``(B, T, ...)``, ``num_actions`` ``(B,)`` and, with ``data.targets`` policy
        or optimal, ``targets`` ``(B, T, A)``: the soft targets. ``width``: the widest action set
        the batch may hold (the trainer passes the dataset's, so that no step has to read
        ``num_actions`` back from the device). ``readouts`` in the batch (``(T',)`` increasing step
        indices, ``train.loss_readouts``): the loss is taken on those steps of each window only
        (the decoder still reads the whole window; the context scorer computes those steps only).
        """
        actions, num_actions = batch["actions"], batch["num_actions"]
        window = (batch["observations"], actions, batch["rewards"], batch.get("dones"))
        hidden = self.forward_window(*window[:3], num_actions, drawn)
        readouts, targets, taken = batch.get("readouts"), batch.get("targets"), actions
        if readouts is not None:
            hidden, taken = hidden[:, readouts], actions[:, readouts]
            targets = None if targets is None else targets[:, readouts]
        if self.actions.regresses:
            predicted = self.actions.predict(hidden)
            loss, accuracy = embedding_mse(predicted, drawn, taken, self.logits(hidden, num_actions, drawn))
        else:
            logits = self.logits(hidden, num_actions, drawn, width, window, readouts)
            loss, accuracy = cross_entropy(logits, taken, num_actions, targets, self.actions.label_smoothing)
        metrics = {"loss": loss.detach(), "accuracy": accuracy.detach()}
        # Trains the effect blocks' embedding; without one there is nothing to add (and a constant
        # zero added to the compiled loss made its backward fail: the bandit presets).
        if self.cfg.transition_loss and self.stats is not None and self.stats.embeds:
            transition = self.stats.transition_loss(window[0], actions, window[3], width or int(num_actions.max()))
            metrics["transition_loss"] = transition.detach()
            loss = loss + self.cfg.transition_loss * transition
        return loss, metrics

    def forward(self, batch: dict, drawn, width: int | None = None):
        """The training loss (``forward`` so that DistributedDataParallel can wrap the model)."""
        return self.loss(batch, drawn, width)
