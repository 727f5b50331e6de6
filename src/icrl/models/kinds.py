"""The model-kind registry: each kind owns its rules, and no other module compares kind names.

A kind says whether it is *headless* (random action embeddings redrawn per sequence, an
action-set prompt and a similarity head, so any action set fits: Headless-AD) or has a fixed
head over action indices (AD); how many actions a task may have; which ``model.*`` fields only
it reads; and the sampling temperature its policy uses by default. Torch-free: the config
validation reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import IcrlError


@dataclass(frozen=True)
class ModelKind:
    name: str
    description: str
    headless: bool  # random action embeddings + action-set prompt + similarity head (else a fixed head)
    fields: tuple[str, ...]  # model.* fields that only this kind (and kinds sharing them) reads
    targets: tuple[str, ...] = ("action", "policy", "optimal")  # data.targets it can learn from
    # The test-time action selection of the kind's paper where it is the same in every environment
    # (DPT samples from its predicted distribution online); None: the environment's (Headless-AD's
    # paper: sample on the Bernoulli bandit and the darkroom, argmax on the contextual bandit).
    paper_selection: str | None = None

    def action_limit(self, model_cfg) -> tuple[int | None, str]:
        """(most actions a task may have, or None for no limit; the config field that sets it)."""
        if self.headless:
            if model_cfg.embeddings == "orthonormal":  # at most action_dim orthonormal vectors
                return model_cfg.action_dim, "model.action_dim"
            return None, ""
        return model_cfg.max_actions, "model.max_actions"

    def default_temperature(self, model_cfg) -> float:
        """Sampling temperature when ``eval.temperature`` is null: Headless-AD samples from the
        distribution its InfoNCE loss fitted (temperature tau); AD from its softmax (1)."""
        return model_cfg.tau if self.headless else 1.0


HEADLESS_FIELDS = ("model.action_dim", "model.embeddings", "model.prompt", "model.loss", "model.tau")
HEAD_FIELDS = ("model.max_actions", "model.label_smoothing")

# DPT (Lee et al., NeurIPS 2023) learns the optimal action of each step's state from the context
# before it: the same decoder, trained with data.targets=optimal (soft targets over tied optima).
# Its headless version (the Headless-AD paper's future work) scores actions by their random
# embeddings, so it acts in action sets it never saw.
MODEL_KINDS: dict[str, ModelKind] = {k.name: k for k in (
    ModelKind("headless_ad", "Headless-AD (Sinii et al., ICML 2024)", headless=True, fields=HEADLESS_FIELDS),
    ModelKind("ad", "Algorithm Distillation (Laskin et al., 2022)", headless=False, fields=HEAD_FIELDS),
    ModelKind("dpt", "Decision-Pretrained Transformer (Lee et al., NeurIPS 2023)", headless=False,
              fields=HEAD_FIELDS, targets=("optimal",), paper_selection="sample"),
    ModelKind("headless_dpt", "DPT with Headless-AD's action interface", headless=True, fields=HEADLESS_FIELDS,
              targets=("optimal",), paper_selection="sample"),
)}


def model_kind(name: str) -> ModelKind:
    try:
        return MODEL_KINDS[name]
    except KeyError:
        raise IcrlError(f"unknown model kind {name!r}; known: {', '.join(MODEL_KINDS)}") from None
