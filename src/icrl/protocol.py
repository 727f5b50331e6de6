"""Test-time protocols: how a trained model picks its actions when it is evaluated.

A model is always reported under the paper's protocol first (SPEC section 3): Headless-AD's paper
samples at the training temperature tau on the Bernoulli bandit and the darkroom and takes the
argmax on the contextual bandit; DPT's paper samples online everywhere; the MSE ablation takes the
nearest action. That row of ``eval.json`` carries the model kind's name (``headless_ad``, ``ad``,
``dpt``, ``headless_dpt``). Two other rows may stand beside it:

- ``<kind>@tuned``: the protocol chosen on validation suites after training (``icrl tune``,
  ``icrl.tune``), never on eval suites;
- ``<kind>@argmax`` or ``<kind>@T<x>``: a protocol set by hand with ``eval.action_selection`` /
  ``eval.temperature`` (not tuned: ``tuned_on`` is null).

Torch-free: the config, the evaluation and the reports read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models.kinds import model_kind
from .suites import env_spec

TUNED = "tuned"  # suffix of the tuned row


@dataclass(frozen=True)
class Protocol:
    """One way of acting: ``action_selection`` ``"sample"`` (from the softmax of the model's
    scores at ``temperature``) or ``"argmax"`` (``temperature`` None); ``tuned_on`` None or
    ``"validation"`` (chosen on validation suites after training)."""

    action_selection: str
    temperature: float | None = None
    tuned_on: str | None = None

    def as_dict(self) -> dict:
        """The ``eval.json`` ``protocols`` entry: ``{"action_selection", "temperature", "tuned_on"}``."""
        return {"action_selection": self.action_selection, "temperature": self.temperature, "tuned_on": self.tuned_on}

    @classmethod
    def from_dict(cls, raw: dict) -> Protocol:
        return cls(raw["action_selection"], raw.get("temperature"), raw.get("tuned_on"))

    @property
    def label(self) -> str:
        """``argmax`` or ``T<temperature>``, as a row suffix."""
        return "argmax" if self.action_selection == "argmax" else f"T{self.temperature:g}"

    def same_play(self, other: Protocol) -> bool:
        """Whether both act the same way (``tuned_on`` aside)."""
        return (self.action_selection, self.temperature) == (other.action_selection, other.temperature)


def training_temperature(cfg) -> float:
    """The temperature of the distribution the model was trained to fit: tau for the headless
    kinds (InfoNCE over similarities / tau), 1 for a softmax head (AD, DPT)."""
    return model_kind(cfg.model.kind).rules.training_temperature(cfg.model)


def only_greedy(cfg) -> bool:
    """Whether the model can only take its nearest action: the MSE ablation regresses an embedding
    and has no distribution to sample from (the paper takes the nearest neighbour)."""
    return model_kind(cfg.model.kind).rules.greedy_only(cfg.model)


def paper_protocol(cfg) -> Protocol:
    """The paper's test-time protocol for ``cfg``'s environment and model kind (module docstring)."""
    if only_greedy(cfg):
        return Protocol("argmax")
    selection = model_kind(cfg.model.kind).paper_selection or env_spec(cfg.env).paper_selection
    return Protocol(selection, training_temperature(cfg) if selection == "sample" else None)


def configured_protocol(cfg) -> Protocol | None:
    """The protocol ``eval.action_selection`` / ``eval.temperature`` ask for, or None when they are
    unset or ask for the paper's. ``eval.temperature`` alone means sampling at it;
    ``eval.action_selection=sample`` alone means sampling at the training temperature."""
    e = cfg.eval
    if (e.action_selection is None and e.temperature is None) or only_greedy(cfg):
        return None
    selection = e.action_selection or "sample"
    temperature = None if selection == "argmax" else (e.temperature if e.temperature is not None
                                                      else training_temperature(cfg))
    chosen = Protocol(selection, temperature)
    return None if chosen.same_play(paper_protocol(cfg)) else chosen


def candidates(cfg) -> list[Protocol]:
    """The protocols ``icrl tune`` tries on validation suites: the paper's first (it wins ties),
    then sampling at each of ``eval.tune_temperature_scales`` x the training temperature, and
    the argmax."""
    first = paper_protocol(cfg)
    if only_greedy(cfg):
        return [first]
    tried = [first] + [Protocol("sample", round(training_temperature(cfg) * s, 6)) for s in cfg.eval.tune_temperature_scales]
    tried.append(Protocol("argmax"))
    out: list[Protocol] = []
    for p in tried:
        if not any(p.same_play(q) for q in out):
            out.append(p)
    return out


def model_rows(cfg, tuned: Protocol | None = None) -> dict[str, Protocol]:
    """``{row name: protocol}`` of a model's rows in ``eval.json``: the kind's row (the paper's
    protocol), a hand-set protocol's row and the tuned row, in that order."""
    kind = cfg.model.kind
    rows = {kind: paper_protocol(cfg)}
    other = configured_protocol(cfg)
    if other is not None:
        rows[f"{kind}@{other.label}"] = other
    if tuned is not None:
        rows[f"{kind}@{TUNED}"] = tuned
    return rows
