"""Action interfaces: how a model reads the actions of its context and scores the actions it may take.

A model kind builds one of two (``ACTION_INTERFACES``); nothing outside this file asks which.

* ``embedded`` (Headless-AD, Sinii et al., ICML 2024): every sequence draws its own random action
  embeddings (``draw``), so an action has no fixed identity; a context action is its embedding
  through a linear map, the action-set prompt is the set of embeddings, and the head predicts an
  embedding scored against each available action: by dot product over tau (InfoNCE), or by minus
  the squared distance under the MSE ablation, whose policy is the nearest action only.
* ``indexed`` (AD, Laskin et al., 2022; DPT): an action is an index into a learned table, the head
  has one logit per index, and a task may have at most ``model.head_size`` actions.

Each interface carries its rules (``rules``, torch-free in ``rules.py`` for the config
validation): the most actions a task may have, the temperature of the distribution it was
trained to fit and whether its policy can only act greedily.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import IcrlError
from .rules import ActionRules, EmbeddedRules, IndexedRules


class ActionSetTooLarge(IcrlError, ValueError):
    """A task has more actions than the model's action interface takes."""


def action_mask(num_actions: torch.Tensor, width: int) -> torch.Tensor:
    """``(B, width)`` bool: slot ``a`` of task ``b`` holds an action (``a < num_actions[b]``)."""
    return torch.arange(width, device=num_actions.device)[None, :] < num_actions[:, None]


def sample_action_embeddings(batch: int, num_actions: int, dim: int, kind: str, generator=None, device="cpu"):
    """Random action embeddings (batch, num_actions, dim), drawn independently per sequence.

    ``orthonormal``: the rows are orthonormal (a Haar-random frame from a QR decomposition), which
    needs ``num_actions <= dim`` (else ``ActionSetTooLarge``). ``gaussian``: i.i.d. N(0, 1/dim)
    entries (unit norm on average). Another ``kind`` raises ``ValueError``.
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


class ActionInterface(nn.Module):
    """Base class. ``drawn`` below is what ``draw`` returned for the batch: ``(B, width, action_dim)``
    embeddings, or None for an interface without them."""

    rules = ActionRules  # limit, training temperature, greedy only (models.rules)
    regresses = False  # trained by regression (the MSE loss), not by a softmax over its scores
    label_smoothing = 0.0

    def check_width(self, width: int) -> None:
        """Raise ``ActionSetTooLarge`` for tasks of ``width`` actions beyond ``limit``."""
        most, field = self.rules.limit(self.cfg)
        if most is not None and width > most:
            raise ActionSetTooLarge(f"this {self.cfg.kind} model takes at most {most} actions ({field}); "
                                    f"the tasks have up to {width}")

    # -- modules -------------------------------------------------------------------------------------
    def draw(self, batch: int, width: int, generator=None, device="cpu"):
        """The per-sequence action representation of a batch of ``width``-action sets, or None."""
        return None

    def draw_per_task(self, num_actions, width: int, streams):
        """As ``draw``, task ``b`` drawing from its own random stream ``streams[b]`` (a NumPy
        generator) for its own ``num_actions[b]`` actions, so it does not depend on its batch."""
        return None

    def prompt_length(self, width: int) -> int:
        """Tokens of the action-set prompt for ``width`` action slots."""
        return 0

    def input_maps(self) -> list[nn.Module]:
        """Linear maps of the action representation into the model, for the model's initialisation."""
        return []

    def prompt(self, drawn, num_actions):
        """Action-set prompt ``(B, P, d)`` and its validity ``(B, P)``; P = 0 without one."""
        B = num_actions.shape[0]
        d = self.embed_dim
        return (torch.zeros(B, 0, d, device=num_actions.device),
                torch.zeros(B, 0, dtype=torch.bool, device=num_actions.device))

    def embed(self, actions, drawn):
        """Context actions ``(B, T)`` (negative: none yet) as ``(B, T, d)`` inputs."""
        raise NotImplementedError

    def scores(self, hidden, drawn, width: int):
        """Float scores ``(B, ..., width)`` of the action slots from decoder outputs ``(B, ..., d)``."""
        raise NotImplementedError


class EmbeddedActions(ActionInterface):
    """Random action embeddings, an action-set prompt and a similarity head (Headless-AD)."""

    rules = EmbeddedRules

    def __init__(self, cfg):
        super().__init__()
        self.cfg, self.embed_dim = cfg, cfg.d_model
        self.action_in = nn.Linear(cfg.action_dim, cfg.d_model, bias=False)
        self.head = nn.Linear(cfg.d_model, cfg.action_dim)
        self.regresses = self.rules.greedy_only(cfg)  # the MSE ablation: it regresses the embedding

    def draw(self, batch, width, generator=None, device="cpu"):
        return sample_action_embeddings(batch, width, self.cfg.action_dim, self.cfg.embeddings, generator, device)

    def draw_per_task(self, num_actions, width, streams):
        out = torch.zeros(len(streams), width, self.cfg.action_dim)
        for b, stream in enumerate(streams):
            gen = torch.Generator().manual_seed(int(stream.integers(2**62)))
            n = int(num_actions[b])
            out[b, :n] = sample_action_embeddings(1, n, self.cfg.action_dim, self.cfg.embeddings, gen)[0]
        return out

    def prompt_length(self, width):
        return width if self.cfg.prompt else 0

    def input_maps(self):
        return [self.action_in]

    def prompt(self, drawn, num_actions):
        if not self.cfg.prompt:
            return super().prompt(drawn, num_actions)
        return self.action_in(drawn), action_mask(num_actions, drawn.shape[1])

    def embed(self, actions, drawn):
        index = actions.long().clamp(min=0)[..., None].expand(*actions.shape, drawn.shape[-1])
        return self.action_in(torch.gather(drawn, 1, index))

    def predict(self, hidden):
        """The predicted action embedding ``(B, ..., action_dim)``, float32."""
        return self.head(hidden).float()

    def scores(self, hidden, drawn, width):
        pred = self.head(hidden)
        if self.regresses:  # minus the squared distance: the nearest action wins
            emb = drawn.float().view(drawn.shape[0], *([1] * (pred.dim() - 2)), *drawn.shape[1:])
            return -(pred.float().unsqueeze(-2) - emb).pow(2).sum(-1)
        return torch.einsum("b...d,bad->b...a", pred.float(), drawn.float()) / self.cfg.tau


class IndexedActions(ActionInterface):
    """A learned table of action indices and one logit per index (AD, DPT)."""

    rules = IndexedRules

    def __init__(self, cfg):
        super().__init__()
        self.cfg, self.embed_dim = cfg, cfg.d_model
        self.action_table = nn.Embedding(cfg.head_size, cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.head_size)
        self.label_smoothing = cfg.label_smoothing

    def embed(self, actions, drawn):
        return self.action_table(actions.long().clamp(min=0))

    def scores(self, hidden, drawn, width):
        self.check_width(width)
        return self.head(hidden).float()[..., :width]


ACTION_INTERFACES: dict[str, type[ActionInterface]] = {c.rules.name: c for c in (EmbeddedActions, IndexedActions)}
