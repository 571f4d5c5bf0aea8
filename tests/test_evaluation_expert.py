"""Expert-return inference: the tilt, the sampler, and the stateful wrapper option."""

import d3rlpy
import numpy as np
import pytest
from d3rlpy.algos import GreedyTransformerActionSampler, StatefulTransformerWrapper
from evaluation_helpers import cartpole, train_cartpole_dtmem
from helpers import synthetic_dataset, tiny_config

from d3rlpy_dtmem.evaluation import (
    ReturnSampler,
    SingleEpisodeWrapper,
    TopPercentileActionSampler,
    is_expert_target,
    tilt_return_logits,
)


@pytest.fixture(scope="module")
def algo():
    return train_cartpole_dtmem(steps=40)


def test_tilt_matches_a_naive_loop():
    logits = np.random.default_rng(0).normal(size=(3, 7))
    kappa, temperature = 4.0, 0.5
    expected = np.empty_like(logits)
    for row in range(3):
        for i in range(7):
            expected[row, i] = (logits[row, i] + kappa * i / 6) / temperature
    np.testing.assert_allclose(tilt_return_logits(logits, kappa, temperature), expected)


def test_sampler_follows_the_tilted_softmax():
    logits = np.log(np.array([[0.5, 0.3, 0.2]]))
    sampler = ReturnSampler(kappa=1.0, temperature=1.0, rng=np.random.default_rng(0), samples=1)
    draws = sampler(np.repeat(logits, 20_000, axis=0))
    tilted = np.array([0.5, 0.3 * np.exp(0.5), 0.2 * np.exp(1.0)])
    np.testing.assert_allclose(
        np.bincount(draws, minlength=3) / 20_000, tilted / tilted.sum(), atol=0.015
    )


def test_best_of_n_keeps_the_highest_of_n_draws():
    """P(max of N draws <= k) = F(k)^N, F the tilted softmax's distribution function."""
    logits = np.log(np.array([[0.5, 0.3, 0.2]]))
    sampler = ReturnSampler(kappa=0.0, temperature=1.0, rng=np.random.default_rng(1), samples=4)
    draws = sampler(np.repeat(logits, 20_000, axis=0))
    below = np.cumsum([0.5, 0.3, 0.2]) ** 4
    expected = np.diff(np.concatenate([[0.0], below]))
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 20_000, expected, atol=0.015)
    with pytest.raises(ValueError, match="samples must be an integer >= 1"):
        ReturnSampler(samples=0)


def test_multi_game_dt_defaults():
    sampler = ReturnSampler()
    assert (sampler.kappa, sampler.temperature, sampler.samples) == (10.0, 0.75, 128)
    assert TopPercentileActionSampler().percentile == 50.0


def test_top_percentile_action_sampling_keeps_the_likelier_actions():
    logits = np.log(np.array([0.1, 0.4, 0.2, 0.3]))
    rng = np.random.default_rng(0)
    top_half = TopPercentileActionSampler(50.0, rng=rng)
    counts = np.bincount([top_half(logits) for _ in range(8000)], minlength=4) / 8000
    np.testing.assert_allclose(counts, [0, 4 / 7, 0, 3 / 7], atol=0.02)
    every = TopPercentileActionSampler(0.0, rng=rng)
    counts = np.bincount([every(logits) for _ in range(8000)], minlength=4) / 8000
    np.testing.assert_allclose(counts, [0.1, 0.4, 0.2, 0.3], atol=0.02)
    assert TopPercentileActionSampler(99.0, rng=rng)(np.zeros(5)) in range(5)  # all tied
    with pytest.raises(ValueError, match="percentile must be in"):
        TopPercentileActionSampler(100.0)


def test_large_kappa_picks_the_highest_return_and_zero_kappa_the_model_s():
    # the model is sure of a low return (class 2 of 121)
    logits = np.full((50, 121), -10.0)
    logits[:, 2] = 10.0
    rng = np.random.default_rng(0)
    assert (ReturnSampler(kappa=1000.0, rng=rng)(logits) == 120).all()
    assert (ReturnSampler(kappa=0.0, rng=rng, samples=1)(logits) == 2).all()
    # a small temperature makes the sampler greedy on the tilted logits
    flat = np.zeros((50, 121))
    assert (ReturnSampler(kappa=1.0, temperature=1e-3, rng=rng)(flat) == 120).all()


def test_target_return_options():
    assert is_expert_target(None) and is_expert_target("expert")
    assert not is_expert_target(500.0)
    with pytest.raises(ValueError, match="got 'best'"):
        is_expert_target("best")
    with pytest.raises(ValueError, match="temperature must be positive"):
        ReturnSampler(temperature=0.0)


def test_expert_wrapper_conditions_on_sampled_returns_in_env_units(algo):
    wrapper = algo.as_stateful_wrapper(
        "expert", GreedyTransformerActionSampler(), kappa=1000.0, rng=0
    )
    assert isinstance(wrapper, SingleEpisodeWrapper)
    env = cartpole()
    env.reset(seed=3)
    score = d3rlpy.metrics.evaluate_transformer_with_environment(wrapper, env, n_trials=2)
    assert score > 0
    windows = wrapper.policy.windows
    conditioned = windows.returns_to_go[0][windows.valid[0] == 1]
    # the top class (100) in model units; the reward scaler (x0.2) maps it to 500 env units
    np.testing.assert_allclose(conditioned, 500.0)
    scaled = algo.config.reward_scaler.transform_numpy(conditioned)
    np.testing.assert_allclose(scaled, 100.0, rtol=1e-6)


def test_fixed_targets_keep_d3rlpy_s_wrapper(algo):
    wrapper = algo.as_stateful_wrapper(target_return=500.0)
    assert isinstance(wrapper, StatefulTransformerWrapper)
    assert isinstance(algo.as_stateful_wrapper(), SingleEpisodeWrapper)  # None: expert
    env = cartpole()
    env.reset(seed=4)
    score = d3rlpy.metrics.evaluate_transformer_with_environment(wrapper, env, n_trials=1)
    assert score > 0


def test_continuous_models_need_a_target_return():
    algo = tiny_config(action_type="continuous").create()
    algo.build_with_dataset(synthetic_dataset(discrete=False))
    with pytest.raises(ValueError, match="expert-return inference needs a discrete-action model"):
        algo.as_stateful_wrapper("expert")


def test_expert_returns_for_a_continuous_model_are_refused_with_a_suggestion():
    from d3rlpy_dtmem.evaluation.envspec import parse_env_spec, resolve_target_return

    spec = parse_env_spec("metaworld:reach-v3")
    with pytest.raises(ValueError, match=r"continuous actions: give a number \(e.g. --target"):
        resolve_target_return(spec, discrete=False, target_return="expert")
    assert resolve_target_return(spec, discrete=True, target_return="expert") == "expert"
    assert resolve_target_return(spec, discrete=False, target_return=None) == 5000
