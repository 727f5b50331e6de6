"""A batched environment over B Gymnasium environments, one per task of a ``GymFamily``.

The tasks of a family are JSON dicts (``TaskSet.params["task_json"]``, one canonical JSON string
per task); the family's ``make_env(task, seed)`` builds each task's ``gymnasium.Env``. The B envs
are stepped with Gymnasium's vector API, ``gymnasium.vector.SyncVectorEnv`` in the **same-step**
autoreset mode (``AutoresetMode.SAME_STEP``): the step that ends an episode returns the first
observation of the next episode, and the observation the episode really ended on in
``info["final_obs"]``. That is exactly the ``BatchedEnv`` contract (``done[b]`` marks the step that
ended the episode, the returned observation starts the next one), so no step is lost or repeated:
the next-step mode would insert a step whose action is ignored, and would put a reset
observation between episodes that no policy acted on.

Compound actions: with ``compound = k`` an action is a sequence of ``k`` of the env's own actions
(``n`` of them), so there are ``n**k`` global action ids; id ``i`` is the moves of its ``k``
base-``n`` digits, the most significant first (the darkroom's numbering). A compound step plays
its moves in turn, sums their rewards and stops early when the episode ends
(``CompoundActions``). ``TimeLimit`` caps an episode at ``max_episode_steps`` compound steps, the
family's ``max_episode_steps``.

Observations: a ``Discrete(n, start)`` space gives cells ``0..n-1`` (``obs - start``,
``obs_kind = "discrete"``); a ``Box`` gives its values flattened to ``float32`` vectors of
``obs_dim`` numbers (``obs_kind = "vector"``).
"""

from __future__ import annotations

import json
import zlib
from typing import ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces

from .base import BatchedEnv, EnvError

TASK_PARAM = "task_json"  # the TaskSet parameter holding each task's canonical JSON


def task_json(task: dict) -> str:
    """The canonical JSON of a task dict (sorted keys, no NaN); ``TypeError``/``ValueError`` if it is not JSON."""
    return json.dumps(task, sort_keys=True, allow_nan=False, separators=(",", ":"))


def task_seed(text: str) -> int:
    """The seed a task's env is built with: a function of its JSON alone, so the same task always
    gets the same env, whichever batch it is in."""
    return zlib.crc32(text.encode())


def compound_digits(action_ids, n: int, k: int) -> np.ndarray:
    """``(..., k)`` the env actions of global compound action ids (base-``n`` digits, most significant first)."""
    ids = np.asarray(action_ids, dtype=np.int64)
    return np.stack([(ids // n ** (k - 1 - j)) % n for j in range(k)], axis=-1)


class CompoundActions(gymnasium.Wrapper):
    """An env whose action ``i`` in ``Discrete(n**k)`` plays the env's ``k`` actions of ``compound_digits(i)``.

    Rewards of the moves add up; the step ends early (the remaining moves unplayed) when a move
    ends the episode, and then reports that move's ``terminated``/``truncated`` and info.
    """

    def __init__(self, env: gymnasium.Env, k: int):
        super().__init__(env)
        self.n, self.k = int(env.action_space.n), int(k)
        self.start = int(env.action_space.start)
        self.action_space = spaces.Discrete(self.n ** self.k)

    def step(self, action):
        total = 0.0
        for move in compound_digits(int(action), self.n, self.k):
            obs, reward, terminated, truncated, info = self.env.step(self.start + int(move))
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


class GymFamilyEnv(BatchedEnv):
    """``B`` tasks of a ``GymFamily``, each its own ``gymnasium.Env``, stepped as one vector env.

    A subclass per family sets ``family`` and the ``BatchedEnv`` class attributes (``name``,
    ``obs_kind``, ``obs_dim``, ``max_episode_steps``); ``icrl.family.GymFamily`` makes it.
    Actions are local indices into each task's action set (global compound ids, see the module).
    ``info`` of a step: ``success`` ``(B,)`` (the episode terminated with a positive reward on this
    step), ``terminal`` ``(B,)`` (it terminated, not truncated: Q-learning bootstraps from 0) and
    ``final_obs`` (where the step led, before an ended episode was reset).
    Raises ``EnvError`` for tasks of another environment or without their JSON.
    """

    family: ClassVar = None  # the icrl.family.GymFamily
    # No select (rollout does not retire finished tasks): it would have to copy the user's envs,
    # which not every env allows, and measured on frozenlake it saves nothing (the copies cost what
    # the skipped steps would have: 3.4 s vs 3.2 s for a model's 100 x 50 episodes, 0.73 vs 0.64 s random).

    def __init__(self, tasks, seed=None):
        super().__init__(tasks, seed)
        if TASK_PARAM not in tasks.params:
            raise EnvError(f"{self.name}: tasks carry no {TASK_PARAM!r} parameter (the task dicts)")
        fam = self.family
        ids = self.action_sets
        if ((ids < 0) & self.action_mask).any() or ids.max() >= fam.num_actions:
            raise EnvError(f"{self.name}: action ids must lie in [0, {fam.num_actions - 1}]")
        self.task_jsons = [str(t) for t in tasks.params[TASK_PARAM]]
        try:
            self.vector = gymnasium.vector.SyncVectorEnv(
                [_maker(fam, text) for text in self.task_jsons], copy=False,
                autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP)
        except RuntimeError as err:  # the vector API needs one observation and action space for all
            raise EnvError(f"{self.name}: the tasks' envs must share their spaces ({str(err).splitlines()[0]})") from None
        self._raw = None  # the vector env's last observations (what an oracle is shown)

    @property
    def envs(self) -> list[gymnasium.Env]:
        """Each task's env as ``make_env`` made it (inside the compound-action and time-limit wrappers)."""
        return [e.env.env for e in self.vector.envs]

    def _convert(self, raw) -> np.ndarray:
        if self.obs_kind == "discrete":
            return np.asarray(raw, dtype=np.int64).reshape(-1) - self.family.obs_start
        return np.array(raw, dtype=np.float32).reshape(len(raw), -1)  # a copy: the vector env reuses its buffer

    def _reset_tasks(self, which):
        if not which.all():  # _next_obs is replaced: only reset() resets, and it resets every task
            raise EnvError(f"{self.name}: tasks reset only all together")
        seeds = self.rng_for(which).integers(0, 2**31 - 1, size=int(which.sum()))
        self._raw, _ = self.vector.reset(seed=[int(s) for s in seeds])
        return self._convert(self._raw)

    def _step(self, actions):
        global_ids = self.action_sets[np.arange(self.num_envs), actions]
        raw, reward, terminated, truncated, info = self.vector.step(global_ids)
        done = np.asarray(terminated | truncated, dtype=bool)
        self._raw = raw
        self._pending = self._convert(raw)
        final = self._pending.copy()
        if done.any():
            ended = np.flatnonzero(done)
            final[ended] = self._convert(np.stack([np.asarray(info["final_obs"][i]) for i in ended]))
        terminal = np.asarray(terminated, dtype=bool)
        out = {"success": terminal & (reward > 0), "terminal": terminal, "final_obs": final}
        return np.asarray(reward, dtype=np.float32), done, out

    def _next_obs(self, done):
        return self._pending

    def optimal_actions(self):
        """``(B, A)`` bool: the local actions whose every move is one the family's ``oracle`` names
        optimal in the state it is played in (moves after the episode ends are free). With compound
        actions the oracle is asked along the way on copies of the env. Where no
        available action is optimal throughout, those that start on an optimal move; where none
        does either, every available action. The copies are the family's ``copy_env`` (default
        ``copy.deepcopy``). Raises ``EnvError`` without an oracle."""
        fam = self.family
        if fam.oracle is None:
            raise EnvError(f"{self.name} has no oracle: give GymFamily(oracle=...) for optimal actions")
        mask = np.zeros((self.num_envs, self.action_width), dtype=bool)
        for b, env in enumerate(self.envs):
            ids = np.asarray(_optimal_sequences(fam, env, self._raw[b], fam.compound), dtype=np.int64)
            first = np.unique(ids // fam.env_actions ** (fam.compound - 1))
            for chosen in (np.isin(self.action_sets[b], ids),
                           np.isin(self.action_sets[b] // fam.env_actions ** (fam.compound - 1), first),
                           np.ones(self.action_width, dtype=bool)):
                mask[b] = chosen & self.action_mask[b]
                if mask[b].any():
                    break
        return mask


def _optimal_sequences(family, env, obs, depth: int) -> list[int]:
    """Global compound ids (``depth`` moves) whose moves are all optimal by the oracle, from ``obs``."""
    moves = family.oracle_moves(env, obs)
    if depth == 1:
        return [int(m) for m in moves]
    rest = family.env_actions ** (depth - 1)
    out = []
    for m in moves:
        twin = family.copy_env(env)
        obs2, _, terminated, truncated, _ = twin.step(family.action_start + int(m))
        tails = range(rest) if terminated or truncated else _optimal_sequences(family, twin, obs2, depth - 1)
        out += [int(m) * rest + t for t in tails]
    return out


def _maker(family, text: str):
    def make() -> gymnasium.Env:
        env = family.make_single(json.loads(text), task_seed(text))
        return gymnasium.wrappers.TimeLimit(CompoundActions(env, family.compound), family.max_episode_steps)
    return make
