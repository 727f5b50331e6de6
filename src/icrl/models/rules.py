"""The rules of each action interface, read from a ``ModelConfig`` (torch-free: the config
validation reads them). The interfaces themselves, the torch modules, are in ``actions.py``; each
carries its rules as ``ActionInterface.rules``. Nothing else decides these.

* ``limit``: the most actions a task may have (Headless-AD: as many orthonormal vectors as
  ``model.action_dim`` holds, no limit with Gaussian embeddings; AD: its head size).
* ``training_temperature``: the temperature of the distribution the model was trained to fit,
  its default sampling temperature (Headless-AD: tau, its InfoNCE loss divides similarities by it;
  AD: 1, a softmax head).
* ``greedy_only``: the policy can only take its best action (the MSE ablation regresses an
  embedding and has no distribution; the paper takes the nearest action).
"""

from __future__ import annotations


class ActionRules:
    name = ""
    fields: tuple[str, ...] = ()  # the model.* fields only this interface reads
    limit_note = ""  # said when a suite is skipped for having too many actions

    @staticmethod
    def limit(model_cfg) -> tuple[int | None, str]:
        """(most actions a task may have, or None for no limit; the config field that sets it)."""
        raise NotImplementedError

    @staticmethod
    def training_temperature(model_cfg) -> float:
        raise NotImplementedError

    @staticmethod
    def greedy_only(model_cfg) -> bool:
        return False


class EmbeddedRules(ActionRules):
    name = "embedded"
    fields = ("model.action_dim", "model.embeddings", "model.prompt", "model.loss", "model.tau")

    @staticmethod
    def limit(model_cfg):
        if model_cfg.embeddings == "orthonormal":  # at most action_dim orthonormal vectors
            return model_cfg.action_dim, "model.action_dim"
        return None, ""

    @staticmethod
    def training_temperature(model_cfg) -> float:
        return model_cfg.tau

    @staticmethod
    def greedy_only(model_cfg) -> bool:
        return model_cfg.loss == "mse"


class IndexedRules(ActionRules):
    name = "indexed"
    fields = ("model.head_size", "model.label_smoothing")
    limit_note = " (the paper retrains AD per size)"

    @staticmethod
    def limit(model_cfg):
        return model_cfg.head_size, "model.head_size"

    @staticmethod
    def training_temperature(model_cfg) -> float:
        return 1.0


ACTION_RULES: dict[str, type[ActionRules]] = {r.name: r for r in (EmbeddedRules, IndexedRules)}
