"""Models: action embeddings, masking of unavailable actions and prompt padding, order equivariance."""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from icrl.config import ConfigError, ModelConfig, departures, load_config
from icrl.models.features import Pool
from icrl.models.model import ActionSetTooLarge, InContextModel, sample_action_embeddings

OBS = {"none": 0, "vector": 2, "discrete": 81}


def tiny(kind="headless_ad", layout="interleaved", **kw) -> ModelConfig:
    base = dict(kind=kind, layout=layout, seq_len=16, num_layers=2, num_heads=4, d_model=32, dropout=0.0,
                attn_dropout=0.0, action_dim=16, tau=1.0, head_size=12)
    base.update(kw)
    return ModelConfig(**base)


def make_model(cfg: ModelConfig, obs_kind="none", seed=0) -> InContextModel:
    torch.manual_seed(seed)
    model = InContextModel(cfg, obs_kind, OBS[obs_kind])
    with torch.no_grad():  # away from the tiny init, so that the context matters
        for p in model.parameters():
            if p.dim() >= 2:  # weight matrices and embedding tables; norms stay at 1
                p.mul_(5.0)
        model.actions.head.weight.mul_(10.0)
    return model.eval()


def random_window(B, T, num_actions, obs_kind, seed=0):
    g = torch.Generator().manual_seed(seed)
    num_actions = torch.as_tensor(num_actions)
    actions = (torch.rand(B, T, generator=g) * num_actions[:, None]).long()
    rewards = torch.rand(B, T, generator=g).round()
    if obs_kind == "vector":
        obs = torch.randn(B, T, OBS["vector"], generator=g)
    elif obs_kind == "discrete":
        obs = torch.randint(0, OBS["discrete"], (B, T), generator=g)
    else:
        obs = torch.zeros(B, T, dtype=torch.long)
    return obs, actions, rewards, num_actions


# -- 1. action embeddings ---------------------------------------------------------------------
@pytest.mark.parametrize("num_actions,dim", [(5, 16), (16, 16), (20, 128)])
def test_orthonormal_embeddings_are_orthonormal(num_actions, dim):
    emb = sample_action_embeddings(7, num_actions, dim, "orthonormal", torch.Generator().manual_seed(0))
    assert emb.shape == (7, num_actions, dim)
    gram = emb @ emb.transpose(1, 2)
    eye = torch.eye(num_actions).expand(7, -1, -1)
    torch.testing.assert_close(gram, eye, atol=1e-5, rtol=0)


def test_embeddings_are_fresh_and_independent_per_sequence():
    g = torch.Generator().manual_seed(0)
    a = sample_action_embeddings(4, 6, 16, "orthonormal", g)
    b = sample_action_embeddings(4, 6, 16, "orthonormal", g)
    assert not torch.allclose(a, b)
    assert not torch.allclose(a[0], a[1])  # each sequence of the batch has its own frame
    # seeded draws are reproducible
    c = sample_action_embeddings(4, 6, 16, "orthonormal", torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, c)


def test_orthonormal_frame_is_not_biased_to_coordinate_axes():
    # a QR without the sign correction (or no randomness) gives a biased frame: the mean of the
    # embeddings over many draws must be ~0 for a Haar-random frame
    emb = sample_action_embeddings(4000, 3, 8, "orthonormal", torch.Generator().manual_seed(1))
    assert emb.mean(0).abs().max() < 0.05


def test_gaussian_embeddings_have_unit_norm_on_average():
    emb = sample_action_embeddings(200, 30, 128, "gaussian", torch.Generator().manual_seed(0))
    norms = emb.norm(dim=-1)
    assert abs(float(norms.mean()) - 1.0) < 0.02
    gram = emb @ emb.transpose(1, 2)
    assert gram.diagonal(dim1=1, dim2=2).std() > 0.05  # not normalised: genuinely random norms
    # gaussian embeddings may have more actions than dimensions
    assert sample_action_embeddings(2, 40, 16, "gaussian").shape == (2, 40, 16)


def test_too_many_actions_for_orthonormal_raise_clearly():
    with pytest.raises(ActionSetTooLarge, match=r"25 actions.*dimension 16.*action_dim"):
        sample_action_embeddings(2, 25, 16, "orthonormal")
    with pytest.raises(ValueError, match="unknown embedding kind"):
        sample_action_embeddings(2, 4, 16, "uniform")


@pytest.mark.parametrize("preset,override,field", [
    ("bandit", "model.action_dim=10", "model.action_dim"),
    ("darkroom", "model.action_dim=40", "model.action_dim"),
    ("bandit", "model.kind=ad", None),
])
def test_config_rejects_embeddings_smaller_than_training_action_sets(preset, override, field):
    if field is None:  # AD: its head must cover the training tasks
        with pytest.raises(ConfigError, match=r"model.head_size=10.*20"):
            load_config(preset, [override, "model.head_size=10"])
        return
    with pytest.raises(ConfigError, match=rf"{field}="):
        load_config(preset, [override])
    # the Gaussian ablation has no such limit
    load_config(preset, [override, "model.embeddings=gaussian"])


# -- 2. masking -------------------------------------------------------------------------------
def _model_for(variant):
    if variant == "infonce":
        return make_model(tiny())
    if variant == "mse":
        return make_model(tiny(loss="mse"))
    if variant == "gaussian":
        return make_model(tiny(embeddings="gaussian"))
    return make_model(tiny(kind="ad", label_smoothing=0.2))


@pytest.mark.parametrize("variant", ["infonce", "mse", "ad"])
def test_logits_of_unavailable_actions_are_minus_inf(variant):
    model = _model_for(variant)
    B, T, width = 3, 6, 8
    obs, actions, rewards, num_actions = random_window(B, T, [2, 5, 8], "none")
    emb = sample_action_embeddings(B, width, model.cfg.action_dim, "orthonormal", torch.Generator().manual_seed(0))
    with torch.no_grad():
        hidden = model.forward_window(obs, actions, rewards, num_actions, emb)
        logits = model.logits(hidden, num_actions, emb, width)
    assert logits.shape == (B, T, width)
    avail = torch.arange(width)[None, :] < num_actions[:, None]
    assert torch.isneginf(logits[~avail[:, None, :].expand(-1, T, -1)]).all()
    assert torch.isfinite(logits[avail[:, None, :].expand(-1, T, -1)]).all()
    probs = torch.softmax(logits, -1)
    assert (probs[~avail[:, None, :].expand(-1, T, -1)] == 0).all()
    torch.testing.assert_close(probs.sum(-1), torch.ones(B, T))


def _loss(model, batch, emb):
    with torch.no_grad():
        return float(model.loss(batch, emb)[0])


@pytest.mark.parametrize("variant", ["infonce", "mse", "gaussian", "ad"])
def test_unavailable_actions_never_enter_the_loss(variant):
    model = _model_for(variant)
    B, T, width = 3, 8, 8
    obs, actions, rewards, num_actions = random_window(B, T, [3, 5, 8], "none", seed=1)
    batch = {"observations": obs, "actions": actions, "rewards": rewards, "num_actions": num_actions}
    kind = "gaussian" if variant == "gaussian" else "orthonormal"
    emb = sample_action_embeddings(B, width, model.cfg.action_dim, kind, torch.Generator().manual_seed(0))
    base = _loss(model, batch, emb)
    assert math.isfinite(base)

    # other embeddings (not zeros: random junk) for the unavailable rows of every sequence
    junk = emb.clone()
    for b, n in enumerate(num_actions.tolist()):
        junk[b, n:] = 10 * torch.randn(width - n, model.cfg.action_dim)
    assert not torch.equal(junk, emb)
    assert _loss(model, batch, junk) == pytest.approx(base, rel=1e-5, abs=1e-6)

    if variant == "ad":  # head rows beyond the widest action set of the batch
        with torch.no_grad():
            model.actions.head.weight[8:] = 100 * torch.randn_like(model.actions.head.weight[8:])
            model.actions.head.bias[8:] = 100.0
        assert _loss(model, batch, emb) == pytest.approx(base, rel=1e-5, abs=1e-6)

    # one sequence alone: its loss with the action set padded to 8 equals the loss with width 3 —
    # multiplying unavailable scores by zero (instead of masking) would add terms to the softmax
    one = {k: v[:1] for k, v in batch.items()}
    narrow = emb[:1, :3]
    wide = torch.cat([narrow, 10 * torch.randn(1, 5, model.cfg.action_dim)], dim=1)
    if variant == "ad":
        with torch.no_grad():
            model.actions.head.bias[3:] = 50.0  # unavailable AD rows that would dominate if not masked
    assert _loss(model, one, wide) == pytest.approx(_loss(model, one, narrow), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("variant", ["infonce", "ad"])
def test_loss_matches_cross_entropy_over_available_actions(variant):
    model = _model_for(variant)
    B, T, width = 2, 6, 8
    obs, actions, rewards, num_actions = random_window(B, T, [3, 6], "none", seed=2)
    batch = {"observations": obs, "actions": actions, "rewards": rewards, "num_actions": num_actions}
    emb = sample_action_embeddings(B, width, model.cfg.action_dim, "orthonormal", torch.Generator().manual_seed(0))
    with torch.no_grad():
        loss = float(model.loss(batch, emb)[0])
        hidden = model.forward_window(obs, actions, rewards, num_actions, emb)
        total = []
        for b, n in enumerate(num_actions.tolist()):
            if model.kind.actions == "embedded":
                scores = model.actions.head(hidden[b]) @ emb[b, :n].T / model.cfg.tau
            else:
                scores = model.actions.head(hidden[b])[:, :n]
            eps = 0.0 if model.kind.actions == "embedded" else model.cfg.label_smoothing
            total.append(F.cross_entropy(scores, actions[b], label_smoothing=eps, reduction="none"))
        expected = float(torch.cat(total).mean())
    assert loss == pytest.approx(expected, rel=1e-5)


def test_ad_label_smoothing_loss_and_gradients_stay_finite():
    model = make_model(tiny(kind="ad", label_smoothing=0.3)).train()
    obs, actions, rewards, num_actions = random_window(3, 8, [2, 4, 12], "none", seed=3)
    batch = {"observations": obs, "actions": actions, "rewards": rewards, "num_actions": num_actions}
    loss, metrics = model.loss(batch, None)
    assert torch.isfinite(loss)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("variant", ["infonce", "mse", "ad"])
def test_headless_loss_gradients_are_finite(variant):
    model = _model_for(variant).train()
    obs, actions, rewards, num_actions = random_window(3, 8, [2, 4, 8], "none", seed=4)
    batch = {"observations": obs, "actions": actions, "rewards": rewards, "num_actions": num_actions}
    emb = sample_action_embeddings(3, 8, model.cfg.action_dim, "orthonormal")
    loss, _ = model.loss(batch, emb)
    loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("layout", ["interleaved", "compact"])
@pytest.mark.parametrize("obs_kind", ["none", "discrete"])
def test_prompt_padding_is_masked_not_zeroed(layout, obs_kind):
    model = make_model(tiny(layout=layout), obs_kind)
    T = 10
    obs, actions, rewards, num_actions = random_window(2, T, [3, 8], obs_kind, seed=5)
    g = torch.Generator().manual_seed(3)
    emb8 = sample_action_embeddings(2, 8, model.cfg.action_dim, "orthonormal", g)
    emb8[0, 3:] = torch.randn(5, model.cfg.action_dim, generator=g)  # junk in the padding slots
    with torch.no_grad():
        narrow = model.forward_window(obs[:1], actions[:1], rewards[:1], num_actions[:1], emb8[:1, :3])
        padded = model.forward_window(obs, actions, rewards, num_actions, emb8)
        zeroed = emb8.clone()
        zeroed[0, 3:] = 0.0
        padded_zero = model.forward_window(obs, actions, rewards, num_actions, zeroed)
        logits_narrow = model.logits(narrow, num_actions[:1], emb8[:1, :3])
        logits_padded = model.logits(padded[:1], num_actions[:1], emb8[:1])
    torch.testing.assert_close(padded[0], narrow[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded_zero[0], narrow[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits_padded[..., :3], logits_narrow, atol=1e-4, rtol=1e-4)
    assert torch.isneginf(logits_padded[..., 3:]).all()
    # the other sequence's prompt really is wider and does matter to it
    with torch.no_grad():
        other_emb = emb8.clone()
        other_emb[1, 7] = torch.randn(model.cfg.action_dim)
        changed = model.forward_window(obs, actions, rewards, num_actions, other_emb)
    assert not torch.allclose(changed[1], padded[1], atol=1e-4)
    torch.testing.assert_close(changed[0], padded[0], atol=1e-5, rtol=1e-5)


def test_prompt_is_seen_from_the_first_step():
    model = make_model(tiny())
    obs, actions, rewards, num_actions = random_window(1, 4, [5], "none")
    e1 = sample_action_embeddings(1, 5, 16, "orthonormal", torch.Generator().manual_seed(0))
    e2 = sample_action_embeddings(1, 5, 16, "orthonormal", torch.Generator().manual_seed(1))
    with torch.no_grad():
        h1 = model.forward_window(obs, actions, rewards, num_actions, e1)
        h2 = model.forward_window(obs, actions, rewards, num_actions, e2)
        no_prompt = make_model(tiny(prompt=False))
        n1 = no_prompt.forward_window(obs, actions, rewards, num_actions, e1)
        n2 = no_prompt.forward_window(obs, actions, rewards, num_actions, e2)
    assert not torch.allclose(h1[:, 0], h2[:, 0], atol=1e-4)  # the action set is known before any action
    torch.testing.assert_close(n1[:, 0], n2[:, 0])  # without a prompt, the first step knows nothing


def test_history_is_causal():
    for layout in ("interleaved", "compact"):
        model = make_model(tiny(layout=layout), "discrete")
        obs, actions, rewards, num_actions = random_window(1, 8, [6], "discrete")
        emb = sample_action_embeddings(1, 6, 16, "orthonormal")
        with torch.no_grad():
            h = model.forward_window(obs, actions, rewards, num_actions, emb)
            a2, r2, o2 = actions.clone(), rewards.clone(), obs.clone()
            a2[:, 5], r2[:, 5], o2[:, 6] = (a2[:, 5] + 1) % 6, 1 - r2[:, 5], (o2[:, 6] + 1) % 81
            h2 = model.forward_window(o2, a2, r2, num_actions, emb)
        torch.testing.assert_close(h[:, :6], h2[:, :6])  # step 5's action is predicted without seeing it
        assert not torch.allclose(h[:, 6:], h2[:, 6:], atol=1e-4)


# -- 3. order equivariance --------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["interleaved", "compact"])
@pytest.mark.parametrize("obs_kind", ["none", "vector", "discrete"])
@pytest.mark.parametrize("switches", [{}, {"action_stats": True}, {"action_stats": True, "action_effects": True},
                                      {"context_features": ["state_action", "episode_effects", "episode_return", "action_max"]}])
@pytest.mark.parametrize("kind", ["headless_ad", "headless_dpt"])
def test_headless_ad_is_equivariant_to_the_order_of_the_action_set(layout, obs_kind, switches, kind):
    if switches and layout == "interleaved":
        switches = {}
    if switches.get("action_effects") and obs_kind != "discrete":
        pytest.skip("action effects are for discrete observations")
    model = make_model(tiny(kind=kind, layout=layout, **switches), obs_kind, seed=1)
    B, T, width = 3, 12, 7
    obs, actions, rewards, num_actions = random_window(B, T, [7, 4, 6], obs_kind, seed=6)
    dones = torch.rand(B, T, generator=torch.Generator().manual_seed(8)) < 0.2
    emb = sample_action_embeddings(B, width, model.cfg.action_dim, "orthonormal", torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(7)
    perm = torch.stack([torch.cat([torch.randperm(n, generator=g), torch.arange(n, width)]) for n in num_actions.tolist()])
    assert (perm != torch.arange(width)).any(dim=1).all()
    # the action called i is called perm[i] after relabelling
    emb_p = torch.empty_like(emb)
    emb_p.scatter_(1, perm[..., None].expand_as(emb), emb)
    actions_p = torch.gather(perm, 1, actions)
    with torch.no_grad():
        logits = model.logits(model.forward_window(obs, actions, rewards, num_actions, emb), num_actions, emb,
                              window=(obs, actions, rewards, dones))
        logits_p = model.logits(model.forward_window(obs, actions_p, rewards, num_actions, emb_p), num_actions, emb_p,
                                window=(obs, actions_p, rewards, dones))
    expected = torch.empty_like(logits)
    expected.scatter_(2, perm[:, None, :].expand_as(logits), logits)
    torch.testing.assert_close(logits_p, expected, atol=1e-4, rtol=1e-4)
    assert logits[torch.isfinite(logits)].std() > 0.5  # far from uniform: the test has teeth


# -- per-action context statistics (model.action_stats) ---------------------------------------
def action_stats(obs_kind, obs_dim, d_model, effects=False, effect_dim=16):
    """The context scorer of model.action_stats (and action_effects) for these observations."""
    from icrl.models.features import ActionEffects, ContextScorer, LinearRewardStats, RewardStats

    blocks = [RewardStats()] + ([LinearRewardStats(obs_kind, obs_dim)] if obs_kind == "vector" else [])
    return ContextScorer(blocks + ([ActionEffects(obs_kind, obs_dim, effect_dim)] if effects else []), d_model)


@pytest.mark.parametrize("obs_kind", ["none", "vector"])
def test_action_stats_pool_exactly_the_earlier_steps_of_each_action(obs_kind):
    """Counts and means against a loop over the window; the last-step form used when acting
    equals the last row of the training form."""
    torch.manual_seed(0)
    stats = action_stats(obs_kind, OBS[obs_kind], d_model=32)
    B, T, A = 2, 9, 5
    obs, actions, rewards, _ = random_window(B, T, [5, 3], obs_kind, seed=3)
    rewards = torch.randn(B, T)
    stats.mlp = stats.first = torch.nn.Identity()  # expose the features: they are the MLP's input
    stats.readout = torch.nn.Linear(32, 1, bias=False)
    torch.nn.init.zeros_(stats.readout.weight)  # adds 0 to every feature
    hidden = torch.randn(B, T, 32)
    with torch.no_grad():
        feats = stats(obs, actions, rewards, None, hidden, torch.tensor([5, 3]), A)  # (B, T, A, features)
        last = stats(obs, actions, rewards, None, hidden[:, -1], torch.tensor([5, 3]), A, last_only=True)
    torch.testing.assert_close(last, feats[:, -1])
    for b in range(B):
        for t in range(T):
            for a in range(A):
                earlier = [k for k in range(t) if actions[b, k] == a]
                n = len(earlier)
                f = feats[b, t, a]
                mean_r = sum(float(rewards[b, k]) for k in earlier) / max(n, 1)
                assert f[0] == (1.0 if n else 0.0)  # mean of phi's constant 1
                assert abs(float(f[1]) - mean_r) < 1e-5
                if obs_kind == "vector":
                    mean_ro = sum(float(rewards[b, k]) * obs[b, k] for k in earlier) / max(n, 1) if n else torch.zeros(2)
                    torch.testing.assert_close(f[4:6], torch.as_tensor(mean_ro, dtype=torch.float32), atol=1e-5, rtol=1e-5)
                offset = 2 + 2 * OBS[obs_kind] if obs_kind == "vector" else 2
                assert f[offset] == float(n > 0) and abs(float(f[offset + 1]) - math.log1p(n)) < 1e-6
                assert abs(float(f[offset + 2]) - math.log1p(t)) < 1e-6


def test_action_effects_pool_each_actions_observation_change_and_where_it_paid():
    """model.action_effects: the mean change of the cell embedding over the earlier steps that took
    each action and did not end their episode, the mean of r * e(o) over all of them, and each
    action's lookahead from where reward was found, against a loop over the window; the acting
    form equals the last row."""
    torch.manual_seed(0)
    m = 4
    stats = action_stats("discrete", OBS["discrete"], d_model=32, effects=True, effect_dim=m)
    B, T, A = 2, 11, 5
    obs, actions, rewards, _ = random_window(B, T, [5, 3], "discrete", seed=3)
    rewards = torch.randn(B, T)
    dones = torch.rand(B, T, generator=torch.Generator().manual_seed(4)) < 0.3
    num_actions = torch.tensor([5, 3])
    stats.mlp = stats.first = torch.nn.Identity()
    stats.readout = torch.nn.Linear(32, 1, bias=False)
    torch.nn.init.zeros_(stats.readout.weight)
    width = 5 + 5 * m + 2
    stats.blocks.effects.summary = torch.nn.Linear(width, width)  # the set summary adds 0
    torch.nn.init.zeros_(stats.blocks.effects.summary.weight), torch.nn.init.zeros_(stats.blocks.effects.summary.bias)
    hidden = torch.randn(B, T, 32)
    with torch.no_grad():
        feats = stats(obs, actions, rewards, dones, hidden, num_actions, A)
        last = stats(obs, actions, rewards, dones, hidden[:, -1], num_actions, A, last_only=True)
    torch.testing.assert_close(last, feats[:, -1])
    e = stats.blocks.effects.cell.weight.detach()

    def effect_of(b, t, a):
        moved = [k for k in range(t) if actions[b, k] == a and not dones[b, k]]
        return sum((e[obs[b, k + 1]] - e[obs[b, k]] for k in moved), torch.zeros(m)) / max(len(moved), 1)

    found_any = False
    for b in range(B):
        for t in range(T):
            now = e[obs[b, t]]
            total = sum(float(rewards[b, k]) for k in range(t) if actions[b, k] < num_actions[b])
            goal = sum((rewards[b, k] * (e[obs[b, k]] + effect_of(b, t, int(actions[b, k]))) for k in range(t)),
                       torch.zeros(m)) / (total if total > 0 else 1.0)
            found_any |= total > 0
            for a in range(A):
                earlier = [k for k in range(t) if actions[b, k] == a]
                effect = effect_of(b, t, a)
                paid = sum((rewards[b, k] * e[obs[b, k]] for k in earlier), torch.zeros(m)) / max(len(earlier), 1)
                ahead = (now + effect - goal) if total > 0 else torch.zeros(m)
                f = feats[b, t, a, 5:]
                torch.testing.assert_close(f[:m], effect, atol=1e-5, rtol=1e-5)
                torch.testing.assert_close(f[m:2 * m], paid, atol=1e-5, rtol=1e-5)
                torch.testing.assert_close(f[2 * m:3 * m], paid * now, atol=1e-5, rtol=1e-5)
                torch.testing.assert_close(f[3 * m:4 * m], now)
                torch.testing.assert_close(f[4 * m:5 * m], ahead, atol=1e-4, rtol=1e-4)
                torch.testing.assert_close(f[5 * m], ahead.pow(2).sum(), atol=1e-4, rtol=1e-4)
                assert f[5 * m + 1] == float(total > 0)
    assert found_any


def test_action_effects_set_summary_ignores_padding_actions():
    """The set summary averages over a task's own actions: the scores of a 3-action task are the
    same whether the batch is 3 or 7 actions wide, and they do depend on the other actions."""
    torch.manual_seed(0)
    stats = action_stats("discrete", OBS["discrete"], d_model=16, effects=True)
    B, T = 1, 10
    obs, actions, rewards, _ = random_window(B, T, [3], "discrete", seed=5)
    rewards, dones = torch.rand(B, T), torch.zeros(B, T, dtype=torch.bool)
    hidden, n = torch.randn(B, T, 16), torch.tensor([3])
    with torch.no_grad():
        narrow = stats(obs, actions, rewards, dones, hidden, n, 3)
        wide = stats(obs, actions, rewards, dones, hidden, n, 7)
        torch.testing.assert_close(wide[..., :3], narrow)
        other = rewards.clone()
        other[actions != 0] += 1.0  # change only what the other actions revealed
        moved = stats(obs, actions, other, dones, hidden, n, 3)
    assert (moved[..., 0] - narrow[..., 0]).abs().max() > 1e-4  # action 0 is scored with the others in view


def coarse_obs(obs_kind, B, T, g):
    """Observations ``(B, T[, 3])`` with few distinct values, so that some steps repeat exactly."""
    if obs_kind == "vector":
        return torch.randint(0, 2, (B, T, 3), generator=g).float()
    return torch.randint(0, 3, (B, T), generator=g) if obs_kind == "discrete" else torch.zeros(B, T, dtype=torch.long)


def likeness(obs, obs_kind, b, k, t):
    """state_action's weight of step k seen from step t, by a loop: same cell, Gaussian kernel, or 1."""
    if obs_kind == "discrete":
        return float(obs[b, k] == obs[b, t])
    if obs_kind == "vector":
        return math.exp(-0.5 * float((obs[b, k] - obs[b, t]).pow(2).sum()))
    return 1.0


@pytest.mark.parametrize("obs_kind", ["discrete", "vector", "none"])
def test_state_action_stats_pool_the_earlier_steps_of_each_action_in_states_like_this_one(obs_kind):
    """model.context_features=[state_action]: for each readout step and action, the weight, mean
    reward and stay-in-place fraction of the earlier steps that took it, weighted by the likeness
    of their observation to the current one (same cell; a Gaussian kernel; all steps), against a
    loop over the window; the acting form equals the last row."""
    from icrl.models.state_action import StateActionStats

    block = StateActionStats(obs_kind, 5)
    B, T, A = 2, 14, 4
    g = torch.Generator().manual_seed(7)
    obs = coarse_obs(obs_kind, B, T, g)
    actions = torch.randint(0, A, (B, T), generator=g)
    rewards = torch.rand(B, T, generator=g).round()
    dones = torch.rand(B, T, generator=g) < 0.2
    with torch.no_grad():
        n, log_n, means = block.extras(Pool((obs, actions, rewards, dones), A))
        last = torch.cat(block.extras(Pool((obs, actions, rewards, dones), A, last=slice(T - 1, T))), dim=-1)
    torch.testing.assert_close(last[:, 0], torch.cat([n, log_n, means], dim=-1)[:, -1])

    like = functools.partial(likeness, obs, obs_kind)

    def stayed(b, k):
        same = bool((obs[b, k + 1] == obs[b, k]).all()) if obs_kind != "none" else False
        return float(same and not dones[b, k])

    for b in range(B):
        for t in range(T):
            for a in range(A):
                here = [(k, like(b, k, t)) for k in range(t) if actions[b, k] == a]
                weight = sum(w for _, w in here)
                assert abs(float(log_n[b, t, a, 0]) - math.log1p(weight)) < 1e-5
                assert float(n[b, t, a, 0]) == float(weight > 1e-6)
                if weight > 1e-6:
                    mean_r = sum(w * float(rewards[b, k]) for k, w in here) / weight
                    stay = sum(w * stayed(b, k) for k, w in here) / weight
                    assert abs(float(means[b, t, a, 0]) - mean_r) < 1e-4
                    assert abs(float(means[b, t, a, 1]) - stay) < 1e-4
    assert n.sum() > 0 and (obs_kind == "none" or (means[..., 1] > 0).any())  # the test has teeth


@pytest.mark.parametrize("name", ["state_return", "episode_return"])
@pytest.mark.parametrize("obs_kind", ["discrete", "vector", "none"])
def test_return_blocks_pool_the_return_seen_so_far_of_each_action_in_states_like_this_one(obs_kind, name):
    """model.context_features=[state_return]: for each readout step t and action a, the mean over
    the earlier steps k < t that took a (weighted as state_action) of the rewards of k's episode
    from k up to t - 1 (never a reward at t or later), against a loop; equal to state_action's mean
    reward when every step ends its episode. [episode_return]: the rewards after k (k + 1 ... t - 1),
    weighted as episode_state_action (the same phase too); zero when every step ends its episode.
    The acting form equals the last row."""
    from icrl.models.features import FEATURE_BLOCKS
    from icrl.models.state_action import StateActionStats, episode_phase

    block = FEATURE_BLOCKS[name](obs_kind, 5)
    own = name == "state_return"
    B, T, A = 2, 16, 3
    g = torch.Generator().manual_seed(11)
    obs = coarse_obs(obs_kind, B, T, g)
    actions = torch.randint(0, A, (B, T), generator=g)
    rewards = (torch.rand(B, T, generator=g) < 0.3).float() * torch.rand(B, T, generator=g)
    dones = torch.rand(B, T, generator=g) < 0.25
    with torch.no_grad():
        mean, log_total = block.extras(Pool((obs, actions, rewards, dones), A))
        last = torch.cat(block.extras(Pool((obs, actions, rewards, dones), A, last=slice(T - 1, T))), dim=-1)
    torch.testing.assert_close(last[:, 0], torch.cat([mean, log_total], dim=-1)[:, -1])

    phase = episode_phase(rewards, dones)

    def like(b, k, t):
        same_phase = own or bool(phase[b, k] == phase[b, t])
        return likeness(obs, obs_kind, b, k, t) * same_phase

    def seen_return(b, k, t):  # rewards of k's episode from k on (after k), up to step t - 1
        total = 0.0
        for j in range(k, t):
            total += float(rewards[b, j]) if (own or j > k) else 0.0
            if dones[b, j]:
                break
        return total

    running = 0
    for b in range(B):
        for t in range(T):
            for a in range(A):
                here = [(k, like(b, k, t)) for k in range(t) if actions[b, k] == a]
                weight = sum(w for _, w in here)
                total = sum(w * seen_return(b, k, t) for k, w in here)
                running += any(w > 0 and not dones[b, k:t].any() and rewards[b, k + 1:t].sum() > 0 for k, w in here)
                assert abs(float(log_total[b, t, a, 0]) - math.copysign(math.log1p(abs(total)), total)) < 1e-5
                if weight > 1e-6:
                    assert abs(float(mean[b, t, a, 0]) - total / weight) < 1e-4
    # Some readouts see a step whose episode is still paying: the causal case is tested. (With the
    # phase matched, such a step is always of an earlier phase: reward came since, so it has weight 0.)
    assert running > 0 if own else running == 0
    assert (log_total != 0).any()
    every = torch.ones_like(dones)
    with torch.no_grad():
        mean, log_total = block.extras(Pool((obs, actions, rewards, every), A))
        reward_mean = StateActionStats(obs_kind, 5).extras(Pool((obs, actions, rewards, every), A))[2][..., :1]
    if own:
        torch.testing.assert_close(mean, reward_mean)
    else:
        assert not mean.any() and not log_total.any()


def test_action_max_pools_only_the_available_actions():
    """model.context_features=[action_max]: each action's activations get W max over the valid
    actions of silu(first); slots beyond an action set (padding) change nothing, and the pooled
    term does move the scores (the test has teeth)."""
    from icrl.models.action_set import ActionSetMax
    from icrl.models.features import ContextScorer, RewardStats

    torch.manual_seed(0)
    scorer = ContextScorer([RewardStats(), ActionSetMax()], d_model=8)
    B, T = 2, 10
    g = torch.Generator().manual_seed(3)
    num_actions = torch.tensor([3, 4])
    actions = torch.stack([torch.randint(0, int(n), (T,), generator=g) for n in num_actions])
    rewards = torch.rand(B, T, generator=g)
    hidden = torch.randn(B, T, 8, generator=g)
    args = (torch.zeros(B, T), actions, rewards, torch.ones(B, T, dtype=torch.bool), hidden, num_actions)
    with torch.no_grad():
        narrow = scorer(*args, width=4)
        wide = scorer(*args, width=9)
        torch.nn.init.zeros_(scorer.blocks["action_max"].pool.weight)
        torch.nn.init.zeros_(scorer.blocks["action_max"].pool.bias)
        unpooled = scorer(*args, width=4)
    for b, n in enumerate(num_actions.tolist()):
        torch.testing.assert_close(narrow[b, :, :n], wide[b, :, :n])
        assert not torch.allclose(narrow[b, :, :n], unpooled[b, :, :n], atol=1e-4)


@pytest.mark.parametrize("obs_kind", ["discrete", "vector"])
def test_episode_effects_look_ahead_towards_where_this_phase_was_rewarded(obs_kind):
    """episode_effects: for each readout step t and action a, e(o_t) + effect_a - g_p, where g_p
    is the reward-weighted mean over the earlier rewarded steps of t's phase (the reward earned
    before it in its episode) of e(o_k) + effect of a_k; against a loop; zero with a flag off
    before such a step exists; the acting form equals the last row."""
    from icrl.models.episode_effects import EpisodeEffects
    from icrl.models.features import ContextScorer, RewardStats
    from icrl.models.state_action import episode_phase

    B, T, A, m = 2, 24, 3, 16
    g = torch.Generator().manual_seed(5)
    obs = torch.randint(0, 6, (B, T), generator=g) if obs_kind == "discrete" else torch.randn(B, T, 2, generator=g)
    actions = torch.randint(0, A, (B, T), generator=g)
    rewards = (torch.rand(B, T, generator=g) < 0.3).float()
    dones = torch.rand(B, T, generator=g) < 0.15
    block = EpisodeEffects(obs_kind, 6 if obs_kind == "discrete" else 2)
    scorer = ContextScorer([RewardStats(), block], d_model=8)
    seen = {}
    scorer.first.register_forward_pre_hook(lambda mod, args: seen.__setitem__("x", args[0]))
    with torch.no_grad():
        scorer(obs, actions, rewards, dones, torch.zeros(B, T, 8), torch.full((B,), A), A)
        ahead, norm, found = seen["x"][..., -m - 2:-2], seen["x"][..., -2], seen["x"][..., -1]
        scorer(obs, actions, rewards, dones, torch.zeros(B, 8), torch.full((B,), A), A, last_only=True)
        torch.testing.assert_close(seen["x"][:, 0, :, -m - 2:], torch.cat([ahead, norm[..., None], found[..., None]], -1)[:, -1])
        e = block.embed(obs)
    phase = episode_phase(rewards, dones)
    episode = lambda b, k: int(dones[b, :k].sum())  # noqa: E731
    for b in range(B):
        for k in range(T):
            assert float(phase[b, k]) == sum(float(rewards[b, j]) for j in range(k) if episode(b, j) == episode(b, k))
    def effect_of(a, b, t):  # the mean embedding change of a's steps before t that did not end an episode
        moves = [k for k in range(t) if actions[b, k] == a and not dones[b, k]]
        return sum((e[b, k + 1] - e[b, k] for k in moves), torch.zeros(m)) / max(len(moves), 1)

    hits = 0
    for b in range(B):
        for t in range(T):
            def effect(a, b=b, t=t):
                return effect_of(a, b, t)
            paid = [k for k in range(t) if rewards[b, k] > 0 and phase[b, k] == phase[b, t]]
            assert float(found[b, t, 0]) == float(bool(paid))
            if not paid:
                assert float(ahead[b, t].abs().max()) == 0.0
                continue
            hits += 1
            goal = sum(float(rewards[b, k]) * (e[b, k] + effect(int(actions[b, k]))) for k in paid) / sum(
                float(rewards[b, k]) for k in paid)
            for a in range(A):
                torch.testing.assert_close(ahead[b, t, a], e[b, t] + effect(a) - goal, atol=1e-4, rtol=1e-4)
                assert abs(float(norm[b, t, a]) - float((e[b, t] + effect(a) - goal).pow(2).sum())) < 1e-3
    assert hits > 5  # the test has teeth


@pytest.mark.parametrize("obs_kind", ["none", "discrete"])
def test_linear_reward_adds_nothing_without_vector_observations(obs_kind):
    from icrl.models.features import ContextScorer, LinearRewardStats, RewardStats

    torch.manual_seed(0)
    alone = ContextScorer([RewardStats()], d_model=8)
    torch.manual_seed(0)
    both = ContextScorer([RewardStats(), LinearRewardStats(obs_kind, 9)], d_model=8)
    B, T, A = 2, 10, 4
    args = (torch.randint(0, 9, (B, T)), torch.randint(0, A, (B, T)), torch.rand(B, T), torch.ones(B, T, dtype=torch.bool),
            torch.randn(B, T, 8), torch.full((B,), A), A)
    with torch.no_grad():
        torch.testing.assert_close(both(*args), alone(*args))


def test_episode_effects_add_nothing_without_observations():
    """On a bandit (no observations) episode_effects has no features and no parameters: the
    scorer is the one of the reward statistics alone, so one feature list serves every environment."""
    from icrl.models.episode_effects import EpisodeEffects
    from icrl.models.features import ContextScorer, RewardStats

    torch.manual_seed(0)
    alone = ContextScorer([RewardStats()], d_model=8)
    torch.manual_seed(0)
    both = ContextScorer([RewardStats(), EpisodeEffects("none", 0)], d_model=8)
    assert [n for n, _ in both.named_parameters()] == [n for n, _ in alone.named_parameters()]
    B, T, A = 2, 10, 4
    args = (torch.zeros(B, T, dtype=torch.long), torch.randint(0, A, (B, T)), torch.rand(B, T), torch.ones(B, T, dtype=torch.bool),
            torch.randn(B, T, 8), torch.full((B,), A), A)
    with torch.no_grad():
        torch.testing.assert_close(both(*args), alone(*args))


def test_episode_state_action_stats_count_only_steps_of_the_same_cell_and_phase():
    """episode_state_action: the state is the cell and the reward earned so far in the episode, so
    an earlier step counts only where both match; against a loop; the acting form equals the last row."""
    from icrl.models.state_action import EpisodeStateActionStats

    block = EpisodeStateActionStats("discrete", 5)
    B, T, A = 2, 16, 3
    g = torch.Generator().manual_seed(11)
    obs = torch.randint(0, 2, (B, T), generator=g)
    actions = torch.randint(0, A, (B, T), generator=g)
    rewards = (torch.rand(B, T, generator=g) < 0.25).float()
    dones = torch.rand(B, T, generator=g) < 0.2
    with torch.no_grad():
        n, log_n, means = block.extras(Pool((obs, actions, rewards, dones), A))
        last = torch.cat(block.extras(Pool((obs, actions, rewards, dones), A, last=slice(T - 1, T))), dim=-1)
    torch.testing.assert_close(last[:, 0], torch.cat([n, log_n, means], dim=-1)[:, -1])

    def episode(b, k):
        return int(dones[b, :k].sum())

    def phase(b, k):
        return sum(float(rewards[b, j]) for j in range(k) if episode(b, j) == episode(b, k))

    differs = 0
    for b in range(B):
        for t in range(T):
            for a in range(A):
                here = [k for k in range(t) if actions[b, k] == a and obs[b, k] == obs[b, t]
                        and phase(b, k) == phase(b, t)]
                cell_only = [k for k in range(t) if actions[b, k] == a and obs[b, k] == obs[b, t]]
                differs += len(here) != len(cell_only)
                assert abs(float(log_n[b, t, a, 0]) - math.log1p(len(here))) < 1e-5
                if here:
                    mean_r = sum(float(rewards[b, k]) for k in here) / len(here)
                    assert abs(float(means[b, t, a, 0]) - mean_r) < 1e-5
    assert differs > 0  # the phase matters in this window: the test has teeth


def test_context_features_are_checked_before_any_work():
    with pytest.raises(ConfigError, match="effects needs discrete"):
        load_config("contextual-cpu", ["model.context_features=[effects]"])
    with pytest.raises(ConfigError, match="allowed a list of the feature blocks"):
        load_config("darkroom-cpu", ["model.context_features=[ngram]"])
    with pytest.raises(ConfigError, match="without repeats"):
        load_config("darkroom-cpu", ["model.context_features=[state_action,state_action]"])
    for preset in ("bandit-cpu", "contextual-cpu", "darkroom-cpu", "keydoor-cpu"):  # defined for every env
        assert load_config(preset, ["model.context_features=[state_action]"]).model.context_features == ["state_action"]
        every = ["state_action", "linear_reward", "episode_effects", "state_return", "episode_return"]  # each defined for every observation kind
        assert load_config(preset, [f"model.context_features=[{','.join(every)}]"]).model.context_features == every


@pytest.mark.parametrize("module", ["state_action", "episode_effects", "action_set"])
def test_a_feature_block_module_can_be_imported_first(module):
    """The registry is built on first use, so importing a block's file before features.py works
    (it used to fail with a circular import)."""
    import subprocess
    import sys

    code = f"import icrl.models.{module}; from icrl.models.features import FEATURE_BLOCKS; print(len(FEATURE_BLOCKS))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 6


def test_the_torch_free_table_of_feature_blocks_matches_the_blocks():
    """Config validation reads ``feature_names`` (so loading a preset does not import torch): it
    lists every block, in column order, with the observation kinds the block itself declares."""
    from icrl.models.feature_names import FEATURE_OBS_KINDS
    from icrl.models.features import FEATURE_BLOCKS

    assert {n: tuple(b.obs_kinds) for n, b in FEATURE_BLOCKS.items()} == FEATURE_OBS_KINDS
    assert list(FEATURE_BLOCKS) == list(FEATURE_OBS_KINDS)


def _grid_correlation(embedding: torch.Tensor) -> float:
    """Correlation of the cells' embedding distances with their grid (Manhattan) distances, 9x9."""
    xy = np.array([(c // 9, c % 9) for c in range(81)])
    grid = np.abs(xy[:, None] - xy[None]).sum(-1).ravel()
    return float(np.corrcoef(torch.cdist(embedding, embedding).detach().numpy().ravel(), grid)[0, 1])


def test_the_transition_loss_teaches_the_cell_embedding_the_grid(small_dataset_path):
    """``model.transition_loss``: predicting each step's landing cell as e(o) + the action's
    leave-one-out mean effect, among all cells, shapes a random cell embedding into the darkroom's
    geometry within a few hundred steps (seen: grid correlation 0.05 -> 0.9 on Key-to-Door)."""
    from icrl.data import TensorWindowSampler
    from icrl.data.history import load_histories
    from icrl.models.episode_effects import EpisodeEffects

    torch.manual_seed(0)
    data = load_histories(small_dataset_path("darkroom"))
    sampler = TensorWindowSampler(data, 60, seed=0, device=torch.device("cpu"))
    block = EpisodeEffects("discrete", 81)
    block.build(32)
    width = int(data.action_sets.shape[1])
    optimizer = torch.optim.Adam(block.parameters(), lr=1e-2)
    before, losses = _grid_correlation(block.cell.weight), []
    for _ in range(300):
        w = sampler.windows(sampler.sample_ids(16))
        loss = block.transition_loss(w["observations"], w["actions"], w["dones"], width)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    after = _grid_correlation(block.cell.weight)
    assert abs(before) < 0.2 and after > 0.6, (before, after)
    assert np.mean(losses[-20:]) < 0.3 * np.mean(losses[:20])


def test_the_transition_loss_reads_vector_observations_and_is_validated(small_dataset_path):
    from icrl.data import TensorWindowSampler
    from icrl.data.history import load_histories
    from icrl.models.episode_effects import EpisodeEffects

    data = load_histories(small_dataset_path("contextual"))
    w = TensorWindowSampler(data, 30, seed=0, device=torch.device("cpu")).windows(torch.arange(4))
    block = EpisodeEffects("vector", w["observations"].shape[-1])
    block.build(32)
    loss = block.transition_loss(w["observations"], w["actions"], w["dones"], int(data.action_sets.shape[1]))
    assert loss.dim() == 0 and torch.isfinite(loss)  # landing observations of the window as candidates
    loss.backward()
    assert block.cell.weight.grad is not None
    # the recipe's loss on the bandit adds no transition term (no embedding: a constant zero there
    # broke the compiled backward); the model says so
    assert not InContextModel(load_config("bandit-cpu").model, "none", 0).stats.embeds
    assert InContextModel(load_config("contextual-cpu").model, "vector", 2).stats.embeds
    # without an effect block there is no embedding to train: the loss is 0 (the recipe keeps it on)
    plain = load_config("darkroom-cpu", ["model.transition_loss=1.0", "model.context_features=[state_action]"]).model
    model = InContextModel(plain, "discrete", 81)
    obs, acts = torch.randint(0, 81, (2, 12)), torch.randint(0, 5, (2, 12))
    assert float(model.stats.transition_loss(obs, acts, torch.zeros(2, 12, dtype=torch.bool), 5)) == 0.0
    # without observations the effect block is inert, and so is its transition loss
    bandit = load_config("bandit-cpu", ["model.transition_loss=1.0", "model.context_features=[episode_effects]",
                                        "model.action_stats=false"]).model
    model = InContextModel(bandit, "none", 0)
    acts = torch.randint(0, 5, (2, 12))
    assert float(model.stats.transition_loss(None, acts, torch.zeros(2, 12), 5)) == 0.0
    with pytest.raises(ConfigError, match=r"model.transition_loss=-0.5 is invalid: allowed >= 0"):
        load_config("darkroom-cpu", ["model.transition_loss=-0.5"])
    cfg = load_config("darkroom-cpu", ["model.transition_loss=1.0", "model.context_features=[episode_effects]"])
    assert "model.transition_loss=1.0" in " ".join(departures(cfg))


def test_effect_dim_sizes_the_effect_blocks_and_old_model_files_keep_16(tmp_path):
    """``model.effect_dim``: the width m of the embedding the effect blocks read. Key-to-Door's
    recipe scorer reads 111 per-action features, 6m + 4 of them from ``episode_effects``; m = 8
    leaves 63, and the scorer still scores every action. A model file written before the field
    existed loads with m = 16, the width it was trained with."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from icrl.models.files import load_model, save_model

    base, small = (load_config("keydoor-cpu", extra) for extra in ([], ["model.effect_dim=8"]))
    widths = {}
    for name, cfg in (("base", base), ("small", small)):
        model = InContextModel(cfg.model, "discrete", 81)
        widths[name] = model.stats.first.in_features
        assert model.stats.blocks["episode_effects"].cell.weight.shape == (81, cfg.model.effect_dim)
    assert widths == {"base": 111, "small": 63}
    obs, acts = torch.randint(0, 81, (2, 12)), torch.randint(0, 20, (2, 12))
    rewards, dones = torch.zeros(2, 12), torch.zeros(2, 12, dtype=torch.bool)
    model = InContextModel(small.model, "discrete", 81)
    scores = model.stats(obs, acts, rewards, dones, torch.randn(2, 12, small.model.d_model), torch.full((2,), 20), 20)
    assert scores.shape == (2, 12, 20) and torch.isfinite(scores).all()
    with pytest.raises(ConfigError, match=r"model.effect_dim=0 is invalid: allowed >= 1"):
        load_config("keydoor-cpu", ["model.effect_dim=0"])
    # an older file: the same model saved without the field in its config
    path = tmp_path / "model.safetensors"
    save_model(InContextModel(base.model, "discrete", 81), base, path)
    tensors = load_file(path)
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    config = json.loads(meta["config"])
    del config["model"]["effect_dim"]
    save_file(tensors, path, metadata={**meta, "config": json.dumps(config)})
    loaded, cfg = load_model(path)
    assert cfg.model.effect_dim == 16 and loaded.stats.first.in_features == 111


@pytest.mark.parametrize("obs_kind", ["none", "vector", "discrete"])
def test_loss_readouts_score_exactly_the_matching_rows_of_the_whole_window(obs_kind):
    """``train.loss_readouts``: the context scorer computed at a few readout steps of the window
    equals the matching rows of the scorer over every step, for every feature block of the
    registry (their ``(B, T', T)`` weights, phases and lookaheads included), and the model's
    loss over the steps ``0..T-1`` given as readouts is the loss over the whole window."""
    from icrl.models.features import FEATURE_BLOCKS

    names = [n for n, cls in FEATURE_BLOCKS.items() if obs_kind in cls.obs_kinds]
    cfg = tiny(layout="compact", seq_len=20, context_features=names, transition_loss=1.0)
    model = make_model(cfg, obs_kind)
    B, T, A = 3, 20, 6
    obs, actions, rewards, num_actions = random_window(B, T, [6, 4, 5], obs_kind, seed=2)
    dones = torch.rand(B, T, generator=torch.Generator().manual_seed(3)) < 0.2
    hidden = torch.randn(B, T, cfg.d_model)
    picked = torch.tensor([0, 3, 4, 11, 19])
    with torch.no_grad():
        every = model.stats(obs, actions, rewards, dones, hidden, num_actions, A)
        some = model.stats(obs, actions, rewards, dones, hidden[:, picked], num_actions, A, readouts=picked)
    assert some.shape == (B, len(picked), A)
    torch.testing.assert_close(some, every[:, picked])
    batch = {"observations": obs, "actions": actions, "rewards": rewards, "dones": dones, "num_actions": num_actions}
    drawn = model.actions.draw(B, A, torch.Generator().manual_seed(0), torch.device("cpu"))
    with torch.no_grad():
        whole, _ = model.loss(batch, drawn, A)
        listed, _ = model.loss({**batch, "readouts": torch.arange(T)}, drawn, A)
        part, _ = model.loss({**batch, "readouts": picked}, drawn, A)
    torch.testing.assert_close(listed, whole)
    assert not torch.isclose(part, whole)  # fewer steps: another mean


def test_loss_readouts_negative_is_refused_before_work():
    with pytest.raises(ConfigError, match=r"train.loss_readouts=-1 is invalid: allowed >= 0"):
        load_config("bandit-cpu", ["train.loss_readouts=-1"])
    # more readouts than the window has steps: every step (a preset's 50 with a short window)
    assert load_config("bandit-cpu", ["model.seq_len=20"]).train.loss_readouts == 50


def test_pooling_by_action_equals_the_one_hot_products():
    """``Pool.sum_by_action`` / ``Pool.by_action`` (scatter-adds, the acting step's pooling) give
    the products with the one-hot of the actions, padding steps (action -1) counted as action 0
    as the one-hot counts them, with the same gradients."""
    g = torch.Generator().manual_seed(0)
    B, T, A, Fw = 3, 11, 5, 4
    actions = torch.randint(0, A, (B, T), generator=g)
    actions[0, :2] = -1
    pool = Pool((None, actions, None, None), A)
    onehot = F.one_hot(actions.clamp(min=0), A).float()
    x = torch.randn(B, T, Fw, generator=g, requires_grad=True)
    w = torch.rand(B, 2, T, generator=g, requires_grad=True)
    got = pool.sum_by_action(x)
    want = torch.einsum("bta,btf->baf", onehot, x)
    assert got.shape == (B, A, Fw)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(pool.by_action(w), torch.einsum("btk,bka->bta", w, onehot))
    up = torch.randn(B, A, Fw, generator=g)
    gx, = torch.autograd.grad((got * up).sum(), x)
    gx_want, = torch.autograd.grad((want * up).sum(), x)
    torch.testing.assert_close(gx, gx_want)
