"""The in-context policy (key/value cache vs recomputation, masking at action selection) and ``Agent``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from icrl.agent import Agent, InContextPolicy
from icrl.config import ModelConfig
from icrl.envs import TaskSet, make_env
from icrl.envs.darkroom import GRID
from icrl.models.model import ActionSetTooLarge, InContextModel
from icrl.rollout import rollout
from icrl.suites import eval_suite

OBS = {"bandit": ("none", 0), "contextual": ("vector", 2), "darkroom": ("discrete", GRID * GRID)}


def make_model(env, kind="headless_ad", layout="interleaved", seq_len=16, seed=0, **kw) -> InContextModel:
    cfg = dict(kind=kind, layout=layout, seq_len=seq_len, num_layers=2, num_heads=4, d_model=32, dropout=0.0,
               attn_dropout=0.0, action_dim=64, tau=1.0, head_size=50)
    cfg.update(kw)
    torch.manual_seed(seed)
    model = InContextModel(ModelConfig(**cfg), *OBS[env])
    with torch.no_grad():  # far from uniform, so that any difference in the context changes actions
        for p in model.parameters():
            if p.dim() >= 2:  # weight matrices and embedding tables; norms stay at 1
                p.mul_(5.0)
        model.actions.head.weight.mul_(10.0)
    return model.eval()


class Recorder:
    """Wraps a policy's ``_choose`` to keep the logits of every step."""

    def __init__(self, policy: InContextPolicy):
        self.logits = []
        choose = policy._choose

        def wrapped(logits):
            self.logits.append(logits.detach().clone())
            return choose(logits)

        policy._choose = wrapped


def bandit_tasks(num_tasks=6):
    return eval_suite("bandit", "all_new", 0, num_tasks)  # 4..20 arms per task


def darkroom_tasks(num_tasks=6):
    return eval_suite("darkroom", "perm_train_train", 0, num_tasks)  # 50 actions, permuted per task


def assert_same_run(model, tasks, steps, selection="sample", seed=3):
    runs = []
    for use_cache in (True, False):
        policy = InContextPolicy(model, selection=selection, use_cache=use_cache)
        rec = Recorder(policy)
        runs.append((rollout(policy, make_env(tasks), steps=steps, seed=seed), rec.logits))
    (cached, cached_logits), (plain, plain_logits) = runs
    assert len(cached_logits) == len(plain_logits) == steps
    for t, (a, b) in enumerate(zip(cached_logits, plain_logits, strict=True)):
        assert torch.equal(torch.isneginf(a), torch.isneginf(b)), t
        finite = torch.isfinite(b)
        torch.testing.assert_close(a[finite], b[finite], atol=1e-4, rtol=1e-4, msg=f"step {t}")
    np.testing.assert_array_equal(cached.actions, plain.actions)
    np.testing.assert_array_equal(cached.rewards, plain.rewards)
    logits = torch.stack(plain_logits)
    spread = (logits.masked_fill(torch.isneginf(logits), float("nan"))).nanmean(-1)
    assert (logits.amax(-1) - spread).mean() > 2.0, "the policy is nearly uniform; the test would have no teeth"
    return cached


# -- 4. cached == uncached --------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["headless_ad", "ad"])
@pytest.mark.parametrize("layout", ["interleaved", "compact"])
def test_cache_matches_recomputation_on_bandits_of_different_sizes(kind, layout):
    model = make_model("bandit", kind, layout, head_size=20)
    tasks = bandit_tasks()
    assert len(set(tasks.num_actions.tolist())) > 1
    traj = assert_same_run(model, tasks, steps=60)  # seq_len 16: the window slides several times
    assert (traj.actions < tasks.num_actions[:, None]).all()
    # the model's choices depend on its context: not the same action at every step
    assert len(np.unique(traj.actions)) > 2


@pytest.mark.parametrize("kind", ["headless_ad", "ad"])
@pytest.mark.parametrize("layout", ["interleaved", "compact"])
def test_cache_matches_recomputation_on_darkroom_with_ragged_episodes(kind, layout):
    model = make_model("darkroom", kind, layout)
    traj = assert_same_run(model, darkroom_tasks(), steps=80)
    ends = [tuple(np.flatnonzero(d)) for d in traj.dones]
    assert len(set(ends)) > 1, "episodes should end at different times in the batch"


def test_cache_matches_recomputation_with_vector_observations_and_argmax():
    model = make_model("contextual", "headless_ad", "interleaved", seq_len=12)
    tasks = eval_suite("contextual", "eval", 0, 4)
    assert_same_run(model, tasks, steps=40, selection="argmax")


@pytest.mark.parametrize("kind", ["headless_ad", "ad", "headless_dpt"])
@pytest.mark.parametrize("env", ["bandit", "contextual", "darkroom", "darkroom+effects", "darkroom+state_action",
                                 "contextual+state_action", "darkroom+episode_state_action",
                                 "darkroom+episode_effects", "contextual+episode_effects", "bandit+episode_effects",
                                 "darkroom+episode_return", "contextual+state_return"])
def test_cache_matches_recomputation_with_action_stats(env, kind):
    """model.action_stats scores per-action statistics of the window (with model.action_effects,
    also the episode ends the agent records; state_action: those of the current state): the cached
    step computes the same logits as recomputation, also when the window slides."""
    env, _, extra = env.partition("+")
    model = make_model(env, kind, "compact", seq_len=12, head_size=20 if env != "darkroom" else 50, action_stats=True,
                       action_effects=extra == "effects", context_features=[extra] if extra not in ("", "effects") else [])
    tasks = {"bandit": bandit_tasks, "darkroom": darkroom_tasks}.get(env, lambda: eval_suite("contextual", "eval", 0, 4))()
    assert_same_run(model, tasks, steps=40)


@pytest.mark.parametrize("features", [{"action_effects": True}, {"context_features": ["state_action"]},
                                      {"context_features": ["episode_effects"]},
                                      {"context_features": ["state_return", "episode_return"]}])
@pytest.mark.parametrize("use_cache", [True, False])
def test_acting_scores_equal_the_training_forward_on_the_same_history(use_cache, features):
    """What the agent scores at step t is what training scores at step t of the recorded history
    (observations, actions, rewards and episode ends, as a dataset stores them): the acting
    window is the training window. Darkroom with model.action_effects, whose statistics read the
    episode ends and the next observations; 30 steps in a 40-step context, so nothing slides."""
    model = make_model("darkroom", "headless_dpt", "compact", seq_len=40, action_stats=True, **features)
    tasks = darkroom_tasks(3)
    policy = InContextPolicy(model, use_cache=use_cache)
    rec = Recorder(policy)
    traj = rollout(policy, make_env(tasks), steps=30, seed=5)
    assert traj.dones.any(), "no episode ended: the test would not check the episode ends"
    as_t = torch.as_tensor
    window = (as_t(traj.observations), as_t(traj.actions), as_t(traj.rewards), as_t(traj.dones))
    n = as_t(np.asarray(tasks.num_actions))
    with torch.no_grad():
        hidden = model.forward_window(*window[:3], n, policy.action_emb)
        trained = model.logits(hidden, n, policy.action_emb, window=window)
    for t, acted in enumerate(rec.logits):
        finite = torch.isfinite(acted)
        torch.testing.assert_close(acted[finite], trained[:, t][finite], atol=1e-4, rtol=1e-4, msg=f"step {t}")


def test_cache_is_actually_used_between_slides(monkeypatch):
    """With the cache, the window is re-encoded only when it slides, not at every step."""
    model = make_model("bandit", seq_len=16)
    policy = InContextPolicy(model, use_cache=True)
    calls = []
    encode = policy._encode_window
    monkeypatch.setattr(policy, "_encode_window", lambda cache: (calls.append(cache), encode(cache))[1])
    rollout(policy, make_env(bandit_tasks(2)), steps=40, seed=0)
    # first step, then every time the context exceeds 16 steps and drops to the newest 8
    assert calls == [True] * len(calls) and 2 <= len(calls) <= 5



@pytest.mark.parametrize("window,use_cache,expected", [
    ("reencode", True, [1, 2, 3, 4, 5, 6, 7, 8, 4, 5, 6, 7, 8, 4]),  # full at 8 steps: keep the newest 4
    ("reencode", False, [1, 2, 3, 4, 5, 6, 7, 8, 4, 5, 6, 7, 8, 4]),
    ("sliding", False, [1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8, 8, 8, 8]),  # always the newest 8
])
def test_context_rules(window, use_cache, expected):
    """How many steps each decision sees: the cached rule, its uncached twin, the sliding baseline."""
    policy = InContextPolicy(make_model("bandit", seq_len=8), use_cache=use_cache, window=window)
    seen = []
    act = policy.act
    policy.act = lambda obs: (act(obs), seen.append(len(policy.obs_hist)))[0]
    rollout(policy, make_env(bandit_tasks(2)), steps=14, seed=0)
    assert seen == expected


def test_sliding_window_has_no_cached_form():
    with pytest.raises(ValueError, match="use_cache=False"):
        InContextPolicy(make_model("bandit"), window="sliding")
    with pytest.raises(ValueError, match="window"):
        InContextPolicy(make_model("bandit"), window="fixed", use_cache=False)

# -- 5. unavailable actions are never chosen --------------------------------------------------
def few_arm_tasks():
    num_arms = np.array([2, 3, 2, 5, 8, 2])
    width = 8
    means = np.random.default_rng(0).random((len(num_arms), width)) * (np.arange(width)[None] < num_arms[:, None])
    action_sets = np.where(np.arange(width)[None] < num_arms[:, None], np.arange(width)[None], -1)
    return TaskSet("bandit", num_arms, action_sets, {"means": means})


class Unchecked:
    """An env proxy that records actions instead of letting the env reject unavailable ones."""

    def __init__(self, env):
        self.env, self.seen = env, []

    def __getattr__(self, name):
        return getattr(self.env, name)

    def step(self, actions):
        self.seen.append(np.array(actions))
        return self.env.step(np.minimum(actions, self.env.num_actions - 1))


@pytest.mark.parametrize("selection", ["sample", "argmax"])
@pytest.mark.parametrize("variant", ["headless_ad", "ad", "mse", "gaussian", "dpt", "headless_dpt"])
def test_unavailable_actions_are_never_chosen(variant, selection):
    extra = {"mse": {"loss": "mse"}, "gaussian": {"embeddings": "gaussian"}}.get(variant, {})
    kind = variant if variant in ("ad", "dpt", "headless_dpt") else "headless_ad"
    model = make_model("bandit", kind, head_size=20, **extra)
    if variant in ("ad", "dpt"):  # make the unavailable head rows the most attractive ones
        with torch.no_grad():
            model.actions.head.bias[2:] = 1e3
    tasks = few_arm_tasks()
    env = Unchecked(make_env(tasks))
    rollout(InContextPolicy(model, selection=selection), env, steps=40, seed=1)
    seen = np.stack(env.seen, axis=1)
    assert (seen >= 0).all() and (seen < tasks.num_actions[:, None]).all()
    assert len(np.unique(seen)) > 1  # not a degenerate policy
    if variant in ("ad", "dpt"):  # the attractive rows are chosen wherever they are available
        assert (seen[tasks.num_actions > 2] >= 2).all()


def test_temperature_changes_sampling_but_not_availability():
    model = make_model("bandit", head_size=20)
    tasks = few_arm_tasks()
    for temperature in (0.05, 20.0):
        traj = rollout(InContextPolicy(model, temperature=temperature), make_env(tasks), steps=30, seed=0)
        assert (traj.actions < tasks.num_actions[:, None]).all()
    with pytest.raises(ValueError, match="temperature"):
        InContextPolicy(model, temperature=0.0)
    with pytest.raises(ValueError, match="selection"):
        InContextPolicy(model, selection="greedy")


def test_policy_refuses_tasks_the_model_cannot_act_in():
    ad = make_model("bandit", "ad", head_size=10)
    with pytest.raises(ActionSetTooLarge, match="10 actions"):
        rollout(InContextPolicy(ad), make_env(bandit_tasks()), steps=2, seed=0)
    headless = make_model("bandit", action_dim=16)
    with pytest.raises(ActionSetTooLarge, match="action_dim"):
        rollout(InContextPolicy(headless), make_env(eval_suite("bandit", "num_25", 0, 2)), steps=2, seed=0)
    with pytest.raises(ValueError, match="observations"):
        rollout(InContextPolicy(make_model("darkroom")), make_env(bandit_tasks(2)), steps=2, seed=0)


# -- 8. Agent ---------------------------------------------------------------------------------
def test_agent_acts_with_labels():
    agent = Agent(make_model("bandit", head_size=20), seed=0, temperature=100.0)
    labels = ["red", "green", "blue"]
    agent.reset(labels)
    chosen = []
    for _ in range(40):  # longer than seq_len: the context slides
        a = agent.act()
        assert a in labels
        chosen.append(a)
        agent.observe(float(a == "green"), done=False)
    assert len(set(chosen)) >= 2
    agent.reset(5)
    assert agent.act() in range(5)


def test_agent_matches_the_batched_policy():
    """One task driven through ``Agent`` makes the same choices as ``InContextPolicy`` in a rollout."""
    model = make_model("bandit", head_size=20)
    tasks = bandit_tasks(1)
    traj = rollout(InContextPolicy(model, selection="argmax"), make_env(tasks), steps=30, seed=0)
    assert tasks.action_sets.shape[1] > tasks.num_actions[0]  # the rollout's prompt has padding
    n = int(tasks.num_actions[0])
    agent = Agent(model, seed=0, selection="argmax")
    agent.reset(n)
    # the embeddings are drawn from the policy's rng: give the agent those of the rollout
    policy = InContextPolicy(model, selection="argmax")
    policy.reset(make_env(tasks), np.random.default_rng(np.random.SeedSequence(0).spawn(2)[1]))
    agent.policy.action_emb = policy.action_emb[:, :n]
    for t in range(30):
        assert agent.act() == traj.actions[0, t], t
        agent.observe(float(traj.rewards[0, t]))


def test_agent_misuse_raises():
    agent = Agent(make_model("bandit", head_size=20), seed=0)
    with pytest.raises(RuntimeError, match="reset"):
        agent.act()
    with pytest.raises(RuntimeError, match="act"):
        agent.observe(1.0)
    agent.reset(3)
    with pytest.raises(RuntimeError, match="act"):
        agent.observe(1.0)
    agent.act()
    with pytest.raises(RuntimeError, match="observe"):
        agent.act()
    agent.observe(0.0)
    with pytest.raises(ValueError, match="empty"):
        agent.reset([])
    with pytest.raises(ActionSetTooLarge):
        agent.reset(65)  # more than action_dim orthonormal embeddings


def test_darkroom_agent_needs_an_observation():
    agent = Agent(make_model("darkroom"), seed=0)
    agent.reset(list(range(50)))
    with pytest.raises(ValueError, match="observation"):
        agent.act()
    a = agent.act(40)
    assert 0 <= a < 50
    agent.observe(0.0)
    assert 0 <= agent.act(np.int64(41)) < 50


def test_agent_load_from_saved_model(tmp_path):
    from icrl.config import load_config
    from icrl.models.files import build_model, save_model

    cfg = load_config("bandit-cpu", ["model.d_model=32", "model.num_layers=1", "model.seq_len=20"])
    model = build_model(cfg)
    save_model(model, cfg, tmp_path / "m.safetensors")
    agent = Agent.load(tmp_path / "m.safetensors", seed=1)
    agent.reset(["x", "y"])
    assert agent.act() in ("x", "y")


@pytest.mark.parametrize(("overrides", "selection", "temperature"), [
    (["eval.action_selection=argmax"], "sample", 1.34),  # a hand-set protocol is an extra row, not the headline
    (["eval.temperature=0.5"], "sample", 1.34),
    ([], "sample", 1.34),
    (["model.tau=2.0"], "sample", 2.0),
])
def test_agent_load_plays_as_the_run_was_evaluated(tmp_path, overrides, selection, temperature):
    """Agent.load defaults to the paper's protocol, the report's headline row; keyword arguments override it."""
    from icrl.config import load_config
    from icrl.models.files import build_model, save_model

    cfg = load_config("bandit-cpu", ["model.d_model=32", "model.num_layers=1", "model.seq_len=20", *overrides])
    save_model(build_model(cfg), cfg, tmp_path / "m.safetensors")
    policy = Agent.load(tmp_path / "m.safetensors").policy
    assert (policy.selection, policy.temperature) == (selection, temperature)
    policy = Agent.load(tmp_path / "m.safetensors", selection="sample", temperature=2.0).policy
    assert (policy.selection, policy.temperature) == ("sample", 2.0)


def test_agent_load_samples_like_the_runs_evaluation(tmp_path):
    """Same model, same seed: the loaded agent's choices equal an agent sampling at tau (the paper's
    protocol), and a temperature given to load equals one given to the agent."""
    from icrl.config import load_config
    from icrl.models.files import save_model

    cfg = load_config("bandit-cpu", ["model.d_model=32", "model.num_layers=1", "model.seq_len=20",
                                     "eval.temperature=0.05", "model.tau=1.0"])
    model = make_model("bandit", layout="compact", seq_len=20, d_model=32, num_layers=1, action_dim=128, head_size=20)
    cfg.model = model.cfg
    save_model(model, cfg, tmp_path / "m.safetensors")

    def play(agent):
        agent.reset(5)
        chosen = []
        for t in range(30):
            chosen.append(agent.act())
            agent.observe(float(t % 3 == 0))
        return chosen

    loaded = play(Agent.load(tmp_path / "m.safetensors", seed=4))
    assert loaded == play(Agent(model, seed=4, temperature=None))
    cold = play(Agent.load(tmp_path / "m.safetensors", seed=4, temperature=0.05))
    assert cold == play(Agent(model, seed=4, temperature=0.05)) and cold != loaded


# -- bad input to the Agent: one clear ValueError, never a silent fallback ---------------------
@pytest.mark.parametrize("action_set", ["abc", 2.5, 0, -3, True, None, [], ["a", "b", "a"], np.zeros((2, 2))])
def test_agent_refuses_bad_action_sets(action_set):
    agent = Agent(make_model("bandit", head_size=20), seed=0)
    with pytest.raises(ValueError, match="action"):
        agent.reset(action_set)
    assert agent.action_set is None  # nothing half-set


@pytest.mark.parametrize("reward", [float("nan"), float("inf"), -float("inf"), None, "1.0", True, [1.0]])
def test_agent_refuses_non_finite_or_non_numeric_rewards(reward):
    agent = Agent(make_model("bandit", head_size=20), seed=0)
    agent.reset(4)
    agent.act()
    with pytest.raises(ValueError, match="reward"):
        agent.observe(reward)
    agent.observe(np.float32(1.0))  # the step still awaits a valid reward; numpy numbers are fine


@pytest.mark.parametrize(("env", "obs"), [
    ("contextual", [float("nan"), 0.0]), ("contextual", [1.0, float("inf")]), ("contextual", [1.0]),
    ("contextual", "ab"), ("darkroom", 81), ("darkroom", -1), ("darkroom", 2.5), ("darkroom", [3, 4]),
])
def test_agent_refuses_bad_observations(env, obs):
    agent = Agent(make_model(env, head_size=20), seed=0)
    agent.reset(5)
    with pytest.raises(ValueError, match="obs"):
        agent.act(obs)
    assert agent.act([0.5, -0.5] if env == "contextual" else 40) in range(5)
