"""The policy protocol shared by teachers, baselines and trained models."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..envs.base import BatchedEnv, TaskStreams


class Policy:
    """A batched policy over a ``BatchedEnv``.

    ``reset`` starts a fresh learner on the env's tasks; ``act`` picks one local action index per
    task; ``observe`` hands it the outcome of that step (teachers learn from it, an in-context model
    appends it to its history). The same ``rollout`` loop drives every policy.

    A policy that sets ``supports_select`` implements ``select``: keep only some of its tasks, so
    ``rollout`` can stop stepping tasks that are done (see ``BatchedEnv.select``).
    """

    name = "policy"
    supports_select: ClassVar[bool] = False
    reports_probs: ClassVar[bool] = False  # implements act_with_probs
    # The observations it can learn from: "none" (bandits), "vector" (contextual), "discrete" (cells).
    obs_kinds: ClassVar[tuple[str, ...]] = ("none", "vector", "discrete")
    # The option that sharpens the policy's action distribution by a factor (>1: greedier), the
    # way a model sampled below its training temperature is sharpened; None: it has none.
    sharpen_option: ClassVar[str | None] = None
    # False for a fixed behaviour policy (random, Dirichlet): its histories do not improve, so it is
    # no reference for a model trained on them (``icrl.evaluate.reference_policy``).
    learns: ClassVar[bool] = True

    def reset(self, env: BatchedEnv, rng: np.random.Generator, horizon=None) -> None:
        """Start on ``env``'s tasks. ``rng``: a generator (or per-task ``TaskStreams``);
        ``horizon``: the ``icrl.suites.Horizon`` the policy will play (``rollout`` passes it), for
        learners whose schedule spans their budget."""
        self.env = env
        self.rng = rng
        self.horizon = horizon
        self.num_envs = env.num_envs
        self.num_actions = env.num_actions
        self.action_mask = env.action_mask

    def act(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def act_with_probs(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Like ``act``, plus the distribution the actions were drawn from.

        Returns the actions ``(B,)`` and ``(B, A)`` probabilities over local actions (zero on
        unavailable ones), exact or, for Thompson sampling, estimated. This is the lower-variance
        training target of ``data.targets=policy``. Policies that implement it set
        ``reports_probs``; the actions are the same ones ``act`` would take with the same random
        stream, so a dataset's histories do not depend on whether the distribution is recorded.
        """
        raise NotImplementedError(f"{type(self).__name__} does not report its action distribution")

    def observe(self, obs, actions, rewards, dones, next_obs, info) -> None:
        """Learn from one step. ``obs`` is what ``act`` saw; ``next_obs`` follows an auto-reset."""

    def select(self, index: np.ndarray) -> None:
        """Keep only tasks ``index`` (a 1-D array of positions in the current batch), in place.

        The kept tasks go on exactly as they would have in the whole batch: every per-task array
        is indexed, nothing is reset. ``rollout`` calls it together with ``BatchedEnv.select`` and
        steps the environment that returns (``self.env`` stays the one given to ``reset``).
        Subclasses that can do this set ``supports_select = True``, index their own per-task state
        and call ``_select_common``.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot keep a subset of its tasks (supports_select is False)")

    def _select_common(self, index: np.ndarray) -> None:
        """The per-task attributes set by ``Policy.reset`` (per-task random streams included)."""
        if isinstance(self.rng, TaskStreams):  # the kept tasks keep drawing from their own streams
            self.rng = self.rng.rows(index)
        self.num_envs = len(index)
        self.num_actions = self.num_actions[index]
        self.action_mask = self.action_mask[index]


def random_argmax(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise argmax with ties broken uniformly at random (unavailable entries hold -inf)."""
    # The row maxima are read at the argmax rather than computed with ``max(axis=1)``: the
    # same values (NaN included), but a row-wise max over a short last axis is ~2x slower.
    best = scores[np.arange(len(scores)), scores.argmax(axis=1)]
    noise = rng.random(scores.shape)
    noise *= scores >= best[:, None]
    return noise.argmax(axis=1)


def random_actions(num_actions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniform local action per task, each within its own action count."""
    return (rng.random(len(num_actions)) * num_actions).astype(np.int64)


def argmax_probs(scores: np.ndarray) -> np.ndarray:
    """``(B, A)`` distribution of ``random_argmax(scores)``: uniform over each row's maxima."""
    ties = scores >= scores.max(axis=1, keepdims=True)
    return ties / ties.sum(axis=1, keepdims=True)


def uniform_probs(action_mask: np.ndarray) -> np.ndarray:
    """``(B, A)`` uniform distribution over each task's available actions."""
    return action_mask / action_mask.sum(axis=1, keepdims=True)


def epsilon_mix(greedy: np.ndarray, epsilon, action_mask: np.ndarray) -> np.ndarray:
    """``(1 - epsilon) * greedy + epsilon * uniform`` over the available actions; ``epsilon`` scalar or ``(B,)``."""
    eps = np.asarray(epsilon, dtype=np.float64).reshape(-1, 1) if np.ndim(epsilon) else float(epsilon)
    return (1.0 - eps) * greedy + eps * uniform_probs(action_mask)
