"""A small end-to-end run on CartPole: scripted data, DT-Mem training, d3rlpy evaluation.

It stands in for the full quickstart until that lands: everything is generated locally.
"""

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CartPoleEpisode",
    "DemoResult",
    "collect_cartpole",
    "run_demo",
    "scripted_cartpole_episode",
]


@dataclasses.dataclass(frozen=True)
class DemoResult:
    dataset_return: float
    random_return: float
    model_return: float
    steps: int
    seconds: float


def _scripted_action(observation: np.ndarray) -> int:
    """Push towards the side the pole falls to (angle plus a share of its velocity)."""
    return int(observation[2] + 0.5 * observation[3] > 0)


@dataclasses.dataclass(frozen=True)
class CartPoleEpisode:
    """One scripted episode: ``observations`` (T+1, 4) float32 (Minari's layout), ``actions``
    (T,) int64, ``rewards`` (T,) float32, and whether it ended by termination."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool


def scripted_cartpole_episode(
    env: Any, rng: np.random.Generator, epsilon: float, seed: int
) -> CartPoleEpisode:
    """Plays one CartPole episode from ``env.reset(seed=seed)`` with the scripted policy,
    taking a random action with probability ``epsilon`` (drawn from ``rng``)."""
    observation, _ = env.reset(seed=seed)
    observations, actions, rewards = [observation], [], []
    terminated = truncated = False
    while not (terminated or truncated):
        action = _scripted_action(observation)
        if rng.random() < epsilon:
            action = int(rng.integers(2))
        observation, reward, terminated, truncated, _ = env.step(action)
        observations.append(observation)
        actions.append(action)
        rewards.append(reward)
    return CartPoleEpisode(
        np.asarray(observations, dtype=np.float32),
        np.asarray(actions, dtype=np.int64),
        np.asarray(rewards, dtype=np.float32),
        bool(terminated),
    )


def collect_cartpole(episodes: int, seed: int = 0):
    """Rolls out the scripted policy with per-episode exploration noise in [0, 0.6].

    Returns:
        a d3rlpy ``MDPDataset`` (discrete actions) and the list of episode returns.
    """
    import d3rlpy
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(seed)
    played = [
        scripted_cartpole_episode(env, rng, 0.6 * episode / max(1, episodes - 1), seed + episode)
        for episode in range(episodes)
    ]
    terminals, timeouts = [], []
    for episode in played:
        last = np.zeros(len(episode.actions), dtype=np.float32)
        last[-1] = 1.0
        terminals.append(last if episode.terminated else 0.0 * last)
        timeouts.append(0.0 * last if episode.terminated else last)
    dataset = d3rlpy.dataset.MDPDataset(
        observations=np.concatenate([e.observations[:-1] for e in played]),
        actions=np.concatenate([e.actions for e in played]),
        rewards=np.concatenate([e.rewards for e in played]),
        terminals=np.concatenate(terminals),
        timeouts=np.concatenate(timeouts),
        action_space=d3rlpy.ActionSpace.DISCRETE,
        action_size=2,
    )
    return dataset, [float(e.rewards.sum()) for e in played]


def run_demo(
    steps: int = 1500,
    episodes: int = 40,
    trials: int = 5,
    seed: int = 0,
    out: str = "runs/demo",
    device: str = "cpu:0",
    show_progress: bool = True,
) -> DemoResult:
    """Trains a small DT-Mem on scripted CartPole data and evaluates it with d3rlpy."""
    import d3rlpy
    import gymnasium as gym
    from d3rlpy.models import VectorEncoderFactory
    from d3rlpy.preprocessing import MultiplyRewardScaler

    from ..algo import DTMemConfig, default_optim_factory
    from ..envs.episodes import EpisodeStats, RandomPolicy, play_together
    from ..evaluation.loggers import training_logger

    d3rlpy.seed(seed)
    start = time.perf_counter()
    dataset, returns = collect_cartpole(episodes, seed)
    algo = DTMemConfig(
        batch_size=32,
        learning_rate=1e-3,
        context_size=20,
        max_timestep=500,
        num_heads=4,
        num_layers=2,
        memory_slots=64,
        encoder_factory=VectorEncoderFactory(hidden_units=[64]),
        # returns up to 500 -> up to 100, the top of the return classes
        reward_scaler=MultiplyRewardScaler(0.2),
        optim_factory=default_optim_factory(100),
    ).create(device=device)
    algo.fit(
        dataset,
        n_steps=steps,
        n_steps_per_epoch=steps,
        experiment_name="dtmem_cartpole",
        logger_adapter=training_logger(Path(out) / "logs", tensorboard=False),
        show_progress=show_progress,
    )
    env = gym.make("CartPole-v1")
    env.reset(seed=seed + 10_000)
    score = d3rlpy.metrics.evaluate_transformer_with_environment(
        algo.as_stateful_wrapper(target_return=500.0), env, n_trials=trials
    )
    played = EpisodeStats(env)
    random_scores = [
        play_together(
            RandomPolicy(env.action_space, seed + trial), [played], [seed + 20_000 + trial]
        )[0][0]
        for trial in range(trials)
    ]
    Path(out).mkdir(parents=True, exist_ok=True)
    algo.save(str(Path(out) / "dtmem_cartpole.d3"))
    return DemoResult(
        dataset_return=float(np.mean(returns)),
        random_return=float(np.mean(random_scores)),
        model_return=score,
        steps=steps,
        seconds=time.perf_counter() - start,
    )
