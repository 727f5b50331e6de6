"""Next-action losses, each with its accuracy: hard targets, soft targets, and the MSE ablation.

* Hard targets (the paper's recipe, ``data.targets=action``): cross-entropy to the action the
  teacher took. AD may smooth it over the available actions (``model.label_smoothing``).
* Soft targets (``data.targets=policy`` or ``optimal``): cross-entropy to a distribution over the
  actions (the teacher's, or uniform over DPT's tied optimal actions); its accuracy counts a top
  choice that is one of the target's most likely actions.
* MSE (Headless-AD's ablation, ``model.loss=mse``): the squared distance between the predicted
  and the taken action's embedding; soft targets do not apply.

Unavailable actions hold -inf logits and never enter a loss. Losses and accuracies are 0-d device
tensors (reading them as floats would synchronise with the device at every step).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .actions import action_mask


def cross_entropy(logits, actions, num_actions, targets=None, label_smoothing: float = 0.0):
    """(loss, accuracy) of logits ``(B, T, A)`` against the taken ``actions`` ``(B, T)`` or, when
    given, soft ``targets`` ``(B, T, >= A)``; ``num_actions`` ``(B,)`` for the smoothing."""
    log_probs = F.log_softmax(logits, dim=-1)
    if targets is not None:
        targets = targets[..., : log_probs.shape[-1]]
        nll = -(targets * log_probs.masked_fill(targets == 0, 0.0)).sum(-1)
    else:
        nll = -torch.gather(log_probs, -1, actions[..., None]).squeeze(-1)
    if label_smoothing > 0:
        # Smooth over the *available* actions only: the masked ones hold -inf log-probs.
        avail = action_mask(num_actions, logits.shape[-1])[:, None, :]
        uniform = -(log_probs.masked_fill(~avail, 0.0).sum(-1)) / num_actions[:, None].float()
        nll = (1 - label_smoothing) * nll + label_smoothing * uniform
    choice = logits.argmax(-1)
    if targets is not None:  # the top choice is one of the target's most likely actions (an optimum)
        top = torch.gather(targets, -1, choice[..., None]).squeeze(-1)
        accuracy = (top >= targets.max(-1).values).float().mean()
    else:
        accuracy = (choice == actions).float().mean()
    return nll.mean(), accuracy


def embedding_mse(predicted, drawn, actions, logits):
    """(loss, accuracy) of predicted embeddings ``(B, T, D)`` against those of the taken
    ``actions`` ``(B, T)`` in ``drawn`` ``(B, A, D)``; the accuracy is the nearest action's
    (``logits`` ``(B, T, A)``: minus the squared distances)."""
    target = torch.gather(drawn.float(), 1, actions[..., None].expand(-1, -1, drawn.shape[-1]))
    loss = (predicted - target).pow(2).sum(-1).mean()
    return loss, (logits.argmax(-1) == actions).float().mean()
