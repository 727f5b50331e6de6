"""The model-kind registry: each kind owns its rules, and no other module compares kind names.

A kind names its action interface (``models.actions``: ``embedded``, random action embeddings
redrawn per sequence, an action-set prompt and a similarity head, so any action set fits, as in
Headless-AD; or ``indexed``, a fixed head over action indices, as in AD), which owns how many
actions a task may have, which ``model.*`` fields it reads and the temperature its policy samples
at by default; the data targets it learns from; and its paper's test-time action selection.
Torch-free: the config validation reads it (the rules live in ``models.rules``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import IcrlError


@dataclass(frozen=True)
class ModelKind:
    name: str
    description: str
    actions: str  # its action interface (models.actions.ACTION_INTERFACES): embedded | indexed
    targets: tuple[str, ...] = ("action", "policy", "optimal")  # data.targets it can learn from
    # The test-time action selection of the kind's paper where it is the same in every environment
    # (DPT samples from its predicted distribution online); None: the environment's (Headless-AD's
    # paper: sample on the Bernoulli bandit and the darkroom, argmax on the contextual bandit).
    paper_selection: str | None = None

    @property
    def rules(self):
        """Its action interface's rules (``models.rules``: action limit, training temperature,
        greedy only, the model.* fields it reads)."""
        from .rules import ACTION_RULES

        return ACTION_RULES[self.actions]

    @property
    def action_interface(self):
        """The class of its action interface (``models.actions``; imports torch)."""
        from .actions import ACTION_INTERFACES

        return ACTION_INTERFACES[self.actions]

    @property
    def fields(self) -> tuple[str, ...]:
        """The model.* fields that only this kind (and kinds sharing its interface) reads."""
        return self.rules.fields


# DPT (Lee et al., NeurIPS 2023) learns the optimal action of each step's state from the context
# before it: the same decoder, trained with data.targets=optimal (soft targets over tied optima).
# Its headless version (the Headless-AD paper's future work) scores actions by their random
# embeddings, so it acts in action sets it never saw.
MODEL_KINDS: dict[str, ModelKind] = {k.name: k for k in (
    ModelKind("headless_ad", "Headless-AD (Sinii et al., ICML 2024)", actions="embedded"),
    ModelKind("ad", "Algorithm Distillation (Laskin et al., 2022)", actions="indexed"),
    ModelKind("dpt", "Decision-Pretrained Transformer (Lee et al., NeurIPS 2023)", actions="indexed",
              targets=("optimal",), paper_selection="sample"),
    ModelKind("headless_dpt", "DPT with Headless-AD's action interface", actions="embedded",
              targets=("optimal",), paper_selection="sample"),
)}


def model_kind(name: str) -> ModelKind:
    try:
        return MODEL_KINDS[name]
    except KeyError:
        raise IcrlError(f"unknown model kind {name!r}; known: {', '.join(MODEL_KINDS)}") from None
