"""Shared test helpers: tiny configs, small synthetic datasets and the algorithm contract.

d3rlpy's own ``algo_tester`` is not shipped in its wheel; :func:`check_algo_contract` is
this project's equivalent for DT-Mem.
"""

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import d3rlpy
import numpy as np
import pytest
import torch
from d3rlpy.algos import TransformerInput
from d3rlpy.models import PixelEncoderFactory, VectorEncoderFactory
from d3rlpy.preprocessing import PixelObservationScaler

import d3rlpy_dtmem
from d3rlpy_dtmem import DTMemConfig
from d3rlpy_dtmem.algo import default_optim_factory

PIXEL_SHAPE = (4, 84, 84)


def tiny_config(pixel: bool = False, **overrides: Any) -> DTMemConfig:
    """A DT-Mem small enough to train in seconds on a CPU."""
    if pixel:
        encoder = PixelEncoderFactory(filters=[[8, 8, 4], [8, 4, 2]], feature_size=32)
    else:
        encoder = VectorEncoderFactory(hidden_units=[32])
    params: dict[str, Any] = dict(
        batch_size=8,
        context_size=5,
        max_timestep=200,
        num_heads=2,
        num_layers=2,
        memory_slots=16,
        encoder_factory=encoder,
        observation_scaler=PixelObservationScaler() if pixel else None,
        optim_factory=default_optim_factory(10),
        learning_rate=1e-3,
    )
    params.update(overrides)
    return DTMemConfig(**params)


def quiet_fit(algo: d3rlpy_dtmem.DTMem, dataset: Any, steps: int) -> None:
    """``algo.fit`` for ``steps`` updates in one epoch, without logs, bars or checkpoints."""
    algo.fit(
        dataset,
        n_steps=steps,
        n_steps_per_epoch=steps,
        show_progress=False,
        save_interval=steps + 1,
        logger_adapter=d3rlpy.logging.NoopAdapterFactory(),
    )


def synthetic_dataset(
    discrete: bool,
    pixel: bool = False,
    episodes: int = 4,
    length: int = 12,
    observation_size: int = 6,
    action_size: int = 3,
    seed: int = 0,
) -> d3rlpy.dataset.ReplayBuffer:
    """Episodes with random observations and a fixed deterministic policy.

    Discrete: action = argmax of the first ``action_size`` observation entries (pixel
    observations: of the mean of ``action_size`` horizontal bands of the first frame).
    Continuous: action = tanh of a fixed linear map of the observation.
    Reward: 1 when the first observation entry is positive, else -1 (so all reward classes
    and several return bins occur).
    """
    rng = np.random.default_rng(seed)
    steps = episodes * length
    if pixel:
        observations = rng.integers(0, 256, size=(steps, *PIXEL_SHAPE), dtype=np.uint8)
        bands = observations[:, 0].reshape(steps, action_size, -1).mean(axis=-1)
        features = (bands - 127.5) / 127.5
    else:
        observations = rng.normal(size=(steps, observation_size)).astype(np.float32)
        features = observations
    if discrete:
        actions = np.argmax(features[:, :action_size], axis=1).astype(np.int64)
    else:
        weights = np.random.default_rng(1234).normal(size=(features.shape[1], action_size))
        actions = np.tanh(features @ weights).astype(np.float32)
    rewards = np.where(features[:, 0] > 0, 1.0, -1.0).astype(np.float32)
    terminals = np.zeros(steps, dtype=np.float32)
    terminals[length - 1 :: length] = 1.0
    return d3rlpy.dataset.MDPDataset(
        observations=observations,
        actions=actions,
        rewards=rewards,
        terminals=terminals,
        action_space=(d3rlpy.ActionSpace.DISCRETE if discrete else d3rlpy.ActionSpace.CONTINUOUS),
        action_size=action_size,
    )


def window_input(dataset: d3rlpy.dataset.ReplayBuffer, length: int) -> TransformerInput:
    """The first ``length`` steps of the first episode as a ``TransformerInput``."""
    episode = dataset.episodes[0]
    rewards = episode.rewards[:length]
    returns = np.cumsum(rewards[::-1])[::-1].reshape(-1, 1).astype(np.float32)
    return TransformerInput(
        observations=episode.observations[:length],
        actions=episode.actions[:length],
        rewards=rewards,
        returns_to_go=returns,
        timesteps=np.arange(1, length + 1),
    )


def check_algo_contract(
    algo: d3rlpy_dtmem.DTMem,
    dataset: d3rlpy.dataset.ReplayBuffer,
    env: Any,
    target_return: float,
    tmp_path: Path,
) -> None:
    """The d3rlpy contract: fit, update, predict, save/load, from_json, wrapper, policy."""
    log_dir = tmp_path / "logs"
    algo.fit(
        dataset,
        n_steps=6,
        n_steps_per_epoch=3,
        experiment_name="contract",
        with_timestamp=False,
        logger_adapter=d3rlpy.logging.FileAdapterFactory(root_dir=str(log_dir)),
        show_progress=False,
        eval_env=env,
        eval_target_return=target_return,
    )
    run_dir = log_dir / "contract"
    scores = np.loadtxt(run_dir / "environment.csv", delimiter=",", ndmin=2)
    assert scores.shape == (2, 3) and np.isfinite(scores).all(), "one evaluation per epoch"
    expected_metrics = {"loss", "action_loss", "reward_loss", "return_loss", "learning_rate"}
    if algo.config.use_memory:
        expected_metrics |= {"memory_address_entropy", "memory_slots_used"}
        if algo.config.memory_balance_weight > 0:
            expected_metrics.add("memory_balance_loss")
    for metric in expected_metrics:
        assert (run_dir / f"{metric}.csv").exists(), f"{metric} was not logged"
    assert (run_dir / "model_6.d3").exists()

    batch = dataset.sample_trajectory_batch(algo.config.batch_size, algo.config.context_size)
    metrics = algo.update(batch)
    assert set(metrics) == expected_metrics
    assert all(np.isfinite(v) for v in metrics.values())
    assert algo.grad_step == 7

    # a partial window (left-padded by d3rlpy) and a full one
    assert algo.predict(window_input(dataset, 2)).shape == (algo.impl.action_size,)
    inpt = window_input(dataset, algo.config.context_size)
    action = algo.predict(inpt)
    assert action.shape == (algo.impl.action_size,)

    # save + load_learnable, in this process and in a fresh one
    model_path = tmp_path / "model.d3"
    algo.save(str(model_path))
    loaded = d3rlpy.load_learnable(str(model_path))
    assert isinstance(loaded, d3rlpy_dtmem.DTMem)
    assert loaded.config.action_type == algo.config.action_type
    assert loaded.config.memory_addressing == algo.config.memory_addressing
    np.testing.assert_allclose(loaded.predict(inpt), action, atol=1e-6)
    expected = tmp_path / "expected.pkl"
    expected.write_bytes(pickle.dumps((inpt, action)))
    code = (
        "import pickle, sys, numpy as np, d3rlpy_dtmem, d3rlpy\n"
        f"inpt, action = pickle.loads(open({str(expected)!r}, 'rb').read())\n"
        f"algo = d3rlpy.load_learnable({str(model_path)!r})\n"
        "np.testing.assert_allclose(algo.predict(inpt), action, atol=1e-6)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ))

    # from_json + load_model
    rebuilt = d3rlpy_dtmem.DTMem.from_json(str(run_dir / "params.json"))
    model_pt = tmp_path / "weights.pt"
    algo.save_model(str(model_pt))
    rebuilt.load_model(str(model_pt))
    np.testing.assert_allclose(rebuilt.predict(inpt), action, atol=1e-6)

    # TorchScript policy gives the greedy action of predict (window scope only)
    policy_path = tmp_path / "policy.pt"
    if algo.config.memory_scope == "episode":
        with pytest.raises(ValueError, match="as_stateful_wrapper"):
            algo.save_policy(str(policy_path))
    else:
        algo.save_policy(str(policy_path))
        policy = torch.jit.load(str(policy_path))
        traced = policy(*_policy_inputs(algo, inpt)).detach().numpy()
        greedy = np.argmax(action) if algo.impl.discrete else action
        np.testing.assert_allclose(traced, greedy, atol=1e-5)

    # the stock d3rlpy evaluator, on a real gymnasium env
    score = d3rlpy.metrics.evaluate_transformer_with_environment(
        algo.as_stateful_wrapper(target_return=target_return), env, n_trials=1
    )
    assert np.isfinite(score)


def _policy_inputs(algo: d3rlpy_dtmem.DTMem, inpt: TransformerInput) -> list[torch.Tensor]:
    """The TorchScript policy's inputs: one full window, no batch dimension."""
    assert inpt.length == algo.config.context_size
    actions = np.asarray(inpt.actions, dtype=np.float32).reshape(inpt.length, -1)
    return [
        torch.from_numpy(np.asarray(inpt.observations)).float(),
        torch.from_numpy(actions),
        torch.from_numpy(inpt.returns_to_go),
        torch.from_numpy(inpt.timesteps).long(),
    ]


def write_policy_dataset(
    dataset_id: str,
    shift: int = 0,
    observation_size: int = 6,
    episodes: int = 6,
    length: int = 20,
    seed: int = 0,
) -> str:
    """Writes a Minari dataset of :func:`synthetic_dataset`'s discrete policy, with the
    action shifted by ``shift`` (mod 3): a new task on the same observations."""
    import gymnasium as gym
    from minari.data_collector import EpisodeBuffer

    from d3rlpy_dtmem.convert import write_minari_dataset

    rng = np.random.default_rng(seed)
    buffers = []
    for _ in range(episodes):
        observations = rng.normal(size=(length + 1, observation_size)).astype(np.float32)
        actions = (np.argmax(observations[:-1, :3], axis=1) + shift) % 3
        ends = np.zeros(length, dtype=bool)
        ends[-1] = True
        buffers.append(
            EpisodeBuffer(
                observations=observations,
                actions=actions.astype(np.int64),
                rewards=np.where(observations[:-1, 0] > 0, 1.0, -1.0),
                terminations=ends,
                truncations=np.zeros(length, dtype=bool),
                infos={},
            )
        )
    write_minari_dataset(
        dataset_id,
        [buffers],
        observation_space=gym.spaces.Box(-10, 10, (observation_size,), np.float32),
        action_space=gym.spaces.Discrete(3),
    )
    return dataset_id
