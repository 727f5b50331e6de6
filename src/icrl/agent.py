"""A trained model as a policy: it learns in context, with frozen weights, from its own history.

``InContextPolicy`` is the batched policy that ``rollout`` drives (evaluation, reports);
``Agent`` is the one-task wrapper for users (``reset(action_set)``, ``act(obs)``, ``observe(reward)``).

Context window. The model was trained on windows of ``seq_len`` steps. The context holds the
steps ``start..t`` (step ``t`` is the one being acted in). When it would exceed ``seq_len`` steps,
the oldest part is dropped so that the newest ``seq_len // 2`` steps remain, and those are
re-encoded once (fresh positions, as in training); until the next drop, every step only appends
its few new tokens to the key/value cache. The same rule decides the context of the uncached
path, which recomputes the whole window at every step, so both choose the same actions.
``window="sliding"`` (uncached only) instead keeps the newest ``seq_len`` steps at every step and
re-encodes them all, the way earlier implementations evaluate; ``benchmarks/inference.py`` times
it as the baseline.

Sampling temperature. Headless-AD's logits are similarities divided by the training temperature
``tau``; by default actions are sampled from exactly the distribution the InfoNCE loss fitted
(temperature = tau). ``temperature=x`` samples from softmax(similarity / x) instead. AD samples
from softmax(logits / x), x = 1 by default. The MSE ablation always takes the nearest action.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from .envs.base import MAX_ACTIONS, TaskStreams, check_seed
from .models.actions import ActionSetTooLarge
from .models.model import InContextModel
from .teachers.base import Policy


class InContextPolicy(Policy):
    def __init__(self, model: InContextModel, *, selection: str = "sample", temperature: float | None = None,
                 use_cache: bool = True, window: str = "reencode", device=None, amp: bool = False):
        if selection not in ("sample", "argmax"):
            raise ValueError(f"selection must be 'sample' or 'argmax', got {selection!r}")
        if window not in ("reencode", "sliding"):
            raise ValueError(f"window must be 'reencode' or 'sliding', got {window!r}")
        if window == "sliding" and use_cache:
            raise ValueError("window='sliding' moves every position at every step, so it has no cached form; "
                             "pass use_cache=False")
        if temperature is not None and not (isinstance(temperature, (int, float)) and 0 < temperature < math.inf):
            raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
        self.model = model.eval()
        self.name = model.cfg.kind
        self.selection = selection
        self.temperature = temperature
        self.use_cache = use_cache
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.amp = amp and self.device.type == "cuda"
        self.seq_len = model.cfg.seq_len
        # "reencode": drop to the newest seq_len // 2 steps when the context is full (see above);
        # "sliding": always the newest seq_len steps, as earlier implementations evaluate.
        self.keep = self.seq_len if window == "sliding" else max(1, self.seq_len // 2)

    # -- episode bookkeeping ---------------------------------------------------------------------
    def reset(self, env, rng, horizon=None):
        super().reset(env, rng, horizon)
        width = int(env.action_width)
        self.width = width
        self.num_actions_t = torch.as_tensor(np.asarray(env.num_actions), device=self.device)
        self.model.actions.check_width(width)
        if self.model.obs_kind != env.obs_kind:
            raise ValueError(f"the model was trained on {self.model.obs_kind!r} observations; this env gives {env.obs_kind!r}")
        self.action_emb = self._draw_embeddings(env, rng)  # drawn once per run, shared by all its steps
        self.obs_hist: list[torch.Tensor] = []
        self.act_hist: list[torch.Tensor] = []
        self.rew_hist: list[torch.Tensor] = []
        self.done_hist: list[torch.Tensor] = []
        self.cache = None

    def _draw_embeddings(self, env, rng):
        """The run's action representation (Headless-AD: ``(B, width, action_dim)`` embeddings;
        None for AD). With per-task streams (``TaskStreams``, as evaluation uses), task b's are
        drawn from its own stream for its own action count, so they do not depend on its batch."""
        actions = self.model.actions
        if isinstance(rng, TaskStreams):
            drawn = actions.draw_per_task(env.num_actions, self.width, rng.generators)
        else:
            drawn = actions.draw(env.num_envs, self.width, torch.Generator().manual_seed(int(rng.integers(2**62))))
        return None if drawn is None else drawn.to(self.device)

    def observe(self, obs, actions, rewards, dones, next_obs, info):
        self.act_hist.append(torch.as_tensor(np.asarray(actions), device=self.device))
        self.rew_hist.append(torch.as_tensor(np.asarray(rewards, dtype=np.float32), device=self.device))
        self.done_hist.append(torch.as_tensor(np.asarray(dones, dtype=bool), device=self.device))

    # -- acting ----------------------------------------------------------------------------------
    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else contextlib.nullcontext()

    @torch.inference_mode()
    def act(self, obs):
        obs_t = torch.as_tensor(np.asarray(obs), device=self.device)
        self.obs_hist.append(obs_t)
        moved = len(self.obs_hist) > self.seq_len
        if moved:  # drop the oldest part of the context; keep the newest `keep` steps (incl. this one)
            drop = len(self.obs_hist) - self.keep
            self.obs_hist, self.act_hist, self.rew_hist, self.done_hist = (
                h[drop:] for h in (self.obs_hist, self.act_hist, self.rew_hist, self.done_hist))
        with self._autocast():
            if not self.use_cache:
                hidden = self._encode_window(cache=False)
            elif self.cache is None or moved:
                hidden = self._encode_window(cache=True)
            else:
                hidden = self._extend(obs_t)
            window = self._window() if self.model.stats is not None else None
            logits = self.model.logits(hidden.float(), self.num_actions_t, self.action_emb, self.width, window)
        return self._choose(logits)

    def _window(self):
        obs = torch.stack(self.obs_hist, dim=1)
        dummy_a = torch.zeros_like(self.num_actions_t)
        dummy_r = torch.zeros(self.num_envs, device=self.device)
        actions = torch.stack([*self.act_hist, dummy_a], dim=1)
        rewards = torch.stack([*self.rew_hist, dummy_r], dim=1)
        dones = torch.stack([*self.done_hist, torch.zeros_like(dummy_r, dtype=torch.bool)], dim=1)
        return obs, actions, rewards, dones

    def _encode_window(self, cache: bool):
        """Encode prompt + context from scratch; with ``cache``, keep its keys and values.

        The prompt sees only itself, so its keys and values never change: when the window slides,
        the cache keeps them and only the kept steps are re-encoded.
        """
        obs, actions, rewards, _ = self._window()
        if not cache:
            hidden = self.model.forward_window(obs, actions, rewards, self.num_actions_t, self.action_emb, partial_last=True)
            return hidden[:, -1]
        m = self.model
        B = self.num_envs
        if self.cache is None:
            prompt, prompt_valid = m.prompt_tokens(self.action_emb, self.num_actions_t)
            P = self.prompt_len = prompt.shape[1]
            capacity = m.window_length(self.seq_len, self.width, partial_last=True)
            self.cache = m.decoder.new_cache(B, capacity, self.device, torch.bfloat16 if self.amp else prompt.dtype)
            if P:
                self.cache.reserve(P, prompt_valid)
                mask = prompt_valid[:, None, None, :].expand(B, 1, P, P)
                m.decoder(prompt, torch.zeros(B, P, device=self.device), mask, self.cache)
        else:
            self.cache.truncate(self.prompt_len)
        tokens = m.step_tokens(obs, actions, rewards, self.action_emb, partial_last=True)
        return self._append(tokens)

    def _append(self, tokens):
        """Run ``tokens`` (B, k, d) after everything cached; return the last one's output."""
        B, k = tokens.shape[:2]
        n = self.cache.length
        self.cache.reserve(k, torch.ones(B, k, dtype=torch.bool, device=self.device))
        j = torch.arange(n + k, device=self.device)
        causal = j[None, :] <= (n + torch.arange(k, device=self.device))[:, None]
        mask = (causal[None] & self.cache.key_valid[:, None, : n + k])[:, None]
        positions = (n - self.prompt_len + 1 + torch.arange(k, device=self.device)).expand(B, k)
        return self.model.decoder(tokens, positions, mask, self.cache)[:, -1]

    def _extend(self, obs_t):
        """Append the last step's action and reward and the new observation to the cache."""
        tokens = self.model.next_step_tokens(self.obs_hist[-2], self.act_hist[-1], self.rew_hist[-1], obs_t, self.action_emb)
        return self._append(tokens)

    def _choose(self, logits: torch.Tensor) -> np.ndarray:
        m = self.model
        if self.selection == "argmax" or m.actions.rules.greedy_only(m.cfg):
            return logits.argmax(-1).cpu().numpy()
        logits = logits.double()
        if self.temperature is not None:
            # in log space, from the best action down: no finite temperature gives inf - inf = NaN
            # (a tiny one is then argmax, ties shared), however far 1 / temperature overflows
            shifted = logits - logits.max(-1, keepdim=True).values
            scale = math.exp(min(700.0, math.log(m.actions.rules.training_temperature(m.cfg)) - math.log(self.temperature)))
            logits = torch.where(shifted == 0, shifted, shifted * scale)
        probs = torch.softmax(logits, dim=-1).cpu().numpy()
        cdf = np.cumsum(probs, axis=1)
        u = self.rng.random(self.num_envs)[:, None] * cdf[:, -1:]
        actions = (cdf < u).sum(axis=1)
        return np.minimum(actions, self.num_actions - 1)


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _finite32(value) -> bool:
    """Whether ``value`` (a number or array) is finite once stored as float32, as the model reads it."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (OverflowError, TypeError, ValueError):  # an int beyond float64
        return False
    return bool(np.isfinite(array).all() and (np.abs(array) <= FLOAT32_MAX).all())


def _identity(action):
    """A hashable stand-in for an action, so that duplicates are found in linear time."""
    try:
        hash(action)
        return action
    except TypeError:
        if isinstance(action, np.ndarray):
            return ("ndarray", action.dtype.str, action.shape, action.tobytes())
        return ("repr", type(action).__name__, repr(action))


class Agent:
    """A trained model that learns a new task in context; one task at a time.

    >>> agent = Agent.load("runs/bandit-cpu")
    >>> agent.reset(action_set=["a", "b", "c"])        # or a number of actions
    >>> a = agent.act()                                  # an element of the action set
    >>> agent.observe(reward=1.0)
    """

    def __init__(self, model: InContextModel, *, seed: int | None = None, device=None, **policy_options):
        check_seed(seed)
        self.policy = InContextPolicy(model, device=device, **policy_options)
        self.rng = np.random.default_rng(seed)
        self.action_set = None
        self._last = None  # the action awaiting its reward

    @classmethod
    def load(cls, path, *, device="cpu", protocol: str = "paper", **options) -> Agent:
        """A trained model from a run directory or ``.safetensors`` file, playing as its report's
        rows describe: ``protocol="paper"`` (the default) the paper's test-time protocol, the row
        named after the model kind; ``"tuned"`` the protocol ``icrl tune`` chose on validation
        suites (``RUN_DIR/tune.json``, the row ``<kind>@tuned``). ``selection=``,
        ``temperature=`` and the other ``InContextPolicy`` options override them; ``seed=``
        seeds its sampling. Raises ``ValueError`` for another ``protocol`` or a run without
        ``tune.json`` asked for ``"tuned"``."""
        from .models.files import load_model
        from .protocol import Protocol, paper_protocol
        from .tune import read_tuning

        if protocol not in ("paper", "tuned"):
            raise ValueError(f"protocol={protocol!r}: allowed 'paper' or 'tuned'")
        model, cfg = load_model(path, device=device)
        chosen = paper_protocol(cfg)
        if protocol == "tuned":
            run_dir = Path(path) if Path(path).is_dir() else Path(path).parent
            record = read_tuning(run_dir, cfg)
            if record is None:
                raise ValueError(f"{run_dir} has no tune.json: run `icrl tune {run_dir}` first, or use protocol='paper'")
            chosen = Protocol.from_dict(record["protocol"])
        options.setdefault("selection", chosen.action_selection)
        options.setdefault("temperature", chosen.temperature)
        return cls(model, device=device, **options)

    def reset(self, action_set) -> None:
        """Start a new task whose actions are ``action_set``: a count (int >= 1), or a sequence of
        distinct actions (list, tuple, range or 1-D array). Raises ``ValueError`` for anything else
        (a string, a float, duplicates, an empty set)."""
        m = self.policy.model
        limit, field = m.actions.rules.limit(m.cfg)
        most = limit if limit is not None else MAX_ACTIONS
        if isinstance(action_set, (int, np.integer)) and not isinstance(action_set, (bool, np.bool_)):
            if action_set < 1:
                raise ValueError(f"action_set={action_set!r}: a count of actions must be >= 1")
            count = int(action_set)
        elif isinstance(action_set, (list, tuple, range)) or (isinstance(action_set, np.ndarray) and action_set.ndim == 1):
            count = len(action_set)
        else:
            raise ValueError(f"action_set={action_set!r} ({type(action_set).__name__}): allowed a count of actions "
                             "(int >= 1) or a sequence of distinct actions (list, tuple, range, 1-D array)")
        if count > most:  # before anything that costs time in the set's size
            raise ActionSetTooLarge(f"an action set of {count} actions is too large: this {m.cfg.kind} model takes "
                                    f"at most {most}{f' ({field})' if limit is not None else ''}")
        actions = list(range(count)) if isinstance(action_set, (int, np.integer)) else list(action_set)
        if not actions:
            raise ValueError("the action set is empty")
        seen = set()
        for action in actions:
            key = _identity(action)
            if key in seen:
                raise ValueError(f"the action set repeats {action!r}: its actions must be distinct")
            seen.add(key)
        self.action_set = actions
        n = len(actions)
        fake_env = SimpleNamespace(
            num_envs=1, num_actions=np.array([n]), action_width=n, action_mask=np.ones((1, n), dtype=bool),
            obs_kind=m.obs_kind, obs_dim=m.obs_dim,
        )
        self.policy.reset(fake_env, self.rng)
        self._last = None

    def act(self, obs=None):
        """Choose an action for observation ``obs`` (omit it for bandits)."""
        if self.action_set is None:
            raise RuntimeError("call reset(action_set) before act()")
        if self._last is not None:
            raise RuntimeError("call observe(reward) after each act()")
        obs = self._check_obs(obs)
        index = int(self.policy.act(obs[None])[0])
        self._last = index
        return self.action_set[index]

    def _check_obs(self, obs) -> np.ndarray:
        """The observation as the model takes it; ``ValueError`` naming what is wrong otherwise."""
        m = self.policy.model
        if m.obs_kind == "none":
            return np.asarray(0)
        if obs is None:
            raise ValueError("this model needs an observation")
        try:
            raw = np.asarray(obs)
            array = raw.astype(np.float64)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"obs={obs!r} is not numeric") from None
        if raw.dtype.kind not in "iuf":  # strings, booleans and objects are not observations
            raise ValueError(f"obs={obs!r} ({raw.dtype.name}): allowed numbers, not {type(obs).__name__} values")
        if m.obs_kind == "vector":
            if array.shape != (m.obs_dim,) or not _finite32(array):
                raise ValueError(f"obs={obs!r}: allowed a vector of {m.obs_dim} numbers finite in float32 "
                                 f"(|x| <= {FLOAT32_MAX:.3g})")
            return array.astype(np.float32)
        if array.shape != () or not float(array).is_integer() or not 0 <= array < m.obs_dim:
            raise ValueError(f"obs={obs!r}: allowed an integer cell in [0, {m.obs_dim - 1}]")
        return np.asarray(int(array))

    def observe(self, reward: float, done: bool = False) -> None:
        """Report the reward of the last action (a finite real number) and whether it ended the
        episode. Raises ``ValueError`` for NaN, infinities, None, strings and booleans."""
        if self._last is None:
            raise RuntimeError("call act() before observe()")
        if isinstance(reward, (bool, np.bool_)) or not isinstance(reward, (int, float, np.integer, np.floating)) \
                or not _finite32(reward):
            raise ValueError(f"reward={reward!r}: allowed a real number finite in float32 (|r| <= {FLOAT32_MAX:.3g})")
        if not (isinstance(done, (bool, np.bool_)) or (isinstance(done, (int, np.integer)) and done in (0, 1))):
            raise ValueError(f"done={done!r}: allowed True or False")
        self.policy.observe(None, np.array([self._last]), np.array([reward], dtype=np.float32), np.array([done]), None, {})
        self._last = None
