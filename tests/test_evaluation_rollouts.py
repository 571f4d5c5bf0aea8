"""Rollouts: batched and stock evaluation agree; seeds, episodes, success and env specs."""

import gymnasium as gym
import numpy as np
import pytest
from evaluation_helpers import cartpole, train_cartpole_dtmem
from helpers import tiny_config

from d3rlpy_dtmem.evaluation import (
    EpisodeStats,
    EvaluationResult,
    episode_seed,
    evaluate,
    pool_results,
)
from d3rlpy_dtmem.evaluation.envspec import (
    check_env_compatible,
    evaluate_envs,
    parse_env_spec,
)


@pytest.fixture(scope="module")
def algo():
    # a short context, so that windows slide in every episode
    return train_cartpole_dtmem(steps=60, context_size=4)


class RecordingGreedySampler:
    """Greedy actions; keeps every model output it is given, in call order."""

    def __init__(self):
        self.outputs = []

    def __call__(self, output):
        self.outputs.append(np.array(output))
        return int(np.argmax(output))


def _by_episode(outputs, lengths, batch):
    """Per-episode outputs of batched calls: each step, the running episodes in slot order."""
    calls, episodes = iter(outputs), []
    for first in range(0, len(lengths), batch):
        chunk = lengths[first : first + batch]
        rows = [[] for _ in chunk]
        for step in range(max(chunk)):
            for row, length in zip(rows, chunk, strict=True):
                if step < length:
                    row.append(next(calls))
        episodes += rows
    return episodes


@pytest.mark.parametrize(
    "target, options",
    [(500.0, {}), ("expert", {"kappa": 5.0, "temperature": 1e-4})],
    ids=["fixed-target", "expert-greedy-returns"],
)
def test_batched_and_stock_evaluation_agree_on_a_deterministic_env(algo, target, options):
    runs, samplers = {}, {}
    for batched in (True, False):
        samplers[batched] = RecordingGreedySampler()
        runs[batched] = evaluate(
            algo,
            cartpole,
            seeds=(0, 1),
            episodes=3,
            target_return=target,
            action_sampler=samplers[batched],
            batched=batched,
            num_envs=4 if batched else None,  # two batches: 4 episodes, then 2
            show_progress=False,
            **options,
        )
    assert runs[True].returns.shape == (2, 3)
    np.testing.assert_array_equal(runs[True].returns, runs[False].returns)
    np.testing.assert_array_equal(runs[True].lengths, runs[False].lengths)
    # every step's action logits agree, not only the greedy choices
    lengths = runs[True].lengths.reshape(-1).tolist()
    batched_outputs = _by_episode(samplers[True].outputs, lengths, batch=4)
    stock_outputs = np.split(np.array(samplers[False].outputs), np.cumsum(lengths)[:-1])
    for batched_episode, stock_episode in zip(batched_outputs, stock_outputs, strict=True):
        np.testing.assert_allclose(np.array(batched_episode), stock_episode, atol=1e-5)
    # windows slide (episodes longer than K) and the episodes differ
    assert runs[True].lengths.min() > algo.config.context_size
    assert len(np.unique(runs[True].returns)) > 1
    assert runs[True].batched and not runs[False].batched


def test_episode_seeds_are_distinct_and_reproducible():
    seeds = {episode_seed(seed, episode) for seed in range(5) for episode in range(50)}
    assert len(seeds) == 250
    assert episode_seed(3, 7) == episode_seed(3, 7)


def test_episode_stats_record_success_and_can_stop_at_it():
    class Succeeds(gym.Wrapper):  # CartPole that reports success from step 3 on
        def step(self, action):
            observation, reward, terminated, truncated, info = self.env.step(action)
            self.count = getattr(self, "count", 0) + 1
            return observation, reward, terminated, truncated, {"success": self.count >= 3}

    for stop, length in ((True, 3), (False, None)):
        env = EpisodeStats(Succeeds(cartpole()), stop_on_success=stop)
        env.reset()
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(0)
            done = terminated or truncated
        assert env.success
        assert env.episode_return == env.episode_length
        if length is not None:
            assert env.episode_length == length
        else:
            assert env.episode_length > 3


def test_metaworld_tasks_are_scored_by_success_rate():
    from helpers import synthetic_dataset

    algo = tiny_config(action_type="continuous").create()
    algo.build_with_dataset(synthetic_dataset(False, observation_size=39, action_size=4))
    spec = parse_env_spec("metaworld:reach-v3", max_episode_steps=15)
    assert spec.score_name == "success rate" and spec.default_target_return() == 150.0
    (task,) = evaluate_envs(algo, [spec], seeds=(0,), episodes=2, show_progress=False)
    assert task.label == "metaworld:reach-v3"
    assert task.result.lengths.max() <= 15
    np.testing.assert_array_equal(task.scores, task.result.successes.astype(float))
    assert task.other_scores == {}


def test_atari_tasks_carry_human_and_dqn_normalized_scores():
    spec = parse_env_spec("atari:Pong")
    assert spec.score_names == ("human-normalized score", "DQN-normalized score")
    returns = np.array([[-20.7, 16.61], [14.6, -3.05]])
    result = EvaluationResult(
        seeds=(0, 1),
        returns=returns,
        lengths=np.ones(returns.shape, int),
        successes=np.zeros(returns.shape, bool),
        seconds=1.0,
        batched=True,
    )
    task = spec.task_result(result)
    assert list(task.all_scores()) == ["human-normalized score", "DQN-normalized score"]
    np.testing.assert_allclose(task.scores, (returns + 20.7) / 35.3)
    np.testing.assert_allclose(
        task.other_scores["DQN-normalized score"], [[0, 1], [35.3 / 37.31, 0.473064]], atol=1e-6
    )
    with pytest.raises(ValueError, match="env gym:CartPole-v1 has no 'success rate'"):
        parse_env_spec("gym:CartPole-v1").scores(result, "success rate")


def test_env_specs_parse_and_check():
    assert parse_env_spec("atari:Pong").score_name == "human-normalized score"
    assert parse_env_spec("gym:CartPole-v1").score_name == "return"
    cases = {
        "Pong": "expected KIND:NAME",
        "nes:Mario": "unknown kind 'nes'",
        "atari:pong": "did you mean 'Pong'",
        "metaworld:door-lok-v3": "unknown Meta-World task",
        "gym:NoSuchEnv-v0": "unknown gymnasium id",
    }
    for text, message in cases.items():
        with pytest.raises(ValueError, match=message):
            parse_env_spec(text)
    env = cartpole()
    check_env_compatible(env, (4,), True, 2, "gym:CartPole-v1")
    with pytest.raises(ValueError, match=r"observations \(4,\) do not match the model's \(6,\)"):
        check_env_compatible(env, (6,), True, 2, "gym:CartPole-v1")
    with pytest.raises(ValueError, match="2 discrete actions, the model has 4 continuous"):
        check_env_compatible(env, (4,), False, 4, "gym:CartPole-v1")


def test_bad_evaluation_arguments(algo):
    with pytest.raises(ValueError, match="at least one seed"):
        evaluate(algo, cartpole, seeds=(), show_progress=False)
    with pytest.raises(ValueError, match="num_envs must be positive"):
        evaluate(algo, cartpole, num_envs=0, show_progress=False)


def test_episode_stats_mark_episodes_cut_by_a_step_cap():
    from d3rlpy_dtmem.envs.episodes import EpisodeStats, play_together

    class Push:  # always pushes left: CartPole falls within a few dozen steps
        def reset(self, episodes):
            pass

        def predict(self, observations, rewards, episodes):
            return [0 for _ in episodes]

    steps = []
    cut = EpisodeStats(gym.make("CartPole-v1", max_episode_steps=3))
    fell = EpisodeStats(gym.make("CartPole-v1", max_episode_steps=500))
    results = play_together(Push(), [cut, fell], [0, 0], on_step=steps.append)
    (_, cut_length, _, cut_truncated), (_, fell_length, _, fell_truncated) = results
    assert (cut_length, cut_truncated) == (3, True)
    assert fell_length < 500 and fell_truncated is False
    assert sum(steps) == cut_length + fell_length and steps[0] == 2


def test_pooled_results_stack_the_seed_rows_of_every_run():
    def run(first: int, value: float, truncated):
        shape = (2, 3)
        return EvaluationResult(
            seeds=(first, first + 1),
            returns=np.full(shape, value),
            lengths=np.full(shape, 5),
            successes=np.full(shape, value > 0),
            seconds=2.0,
            batched=True,
            truncated=truncated,
        )

    both = pool_results([run(0, 1.0, np.ones((2, 3), bool)), run(0, 0.0, np.zeros((2, 3), bool))])
    assert both.seeds == (0, 1, 0, 1)
    assert both.returns.shape == both.successes.shape == (4, 3)
    assert both.success_rate == 0.5 and both.mean_return == 0.5
    assert both.seconds == 4.0 and both.truncated_episodes == 6
    assert pool_results([run(3, 1.0, None), run(5, 1.0, np.ones((2, 3), bool))]).truncated is None
    alone = pool_results([run(7, 1.0, None)])
    assert alone.seeds == (7, 8) and alone.returns.shape == (2, 3) and alone.seconds == 2.0
