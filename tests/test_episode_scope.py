"""memory_scope="episode": runs of segments in training, the memory carried across windows,
causality across windows, inference that plays an episode as training cut it."""

import d3rlpy
import gymnasium as gym
import numpy as np
import pytest
import torch
from d3rlpy.algos.transformer.action_samplers import GreedyTransformerActionSampler
from d3rlpy.constants import PositionEncodingType
from helpers import check_algo_contract, quiet_fit, synthetic_dataset, tiny_config

from d3rlpy_dtmem.data import EpisodeRuns, TaskArrays, run_starts, slice_runs
from d3rlpy_dtmem.inference import BatchedTransformerPolicy

ADDRESSING = ["slot_keys", "content"]
K = 5  # tiny_config's context_size


def episode_config(**overrides):
    params = dict(memory_scope="episode", memory_segments=2, memory_burn_in=1)
    params.update(overrides)
    return tiny_config(**params)


def built(discrete=False, **overrides):
    d3rlpy.seed(0)
    algo = episode_config(**overrides).create()
    algo.build_with_dataset(synthetic_dataset(discrete=discrete, length=13))
    return algo


def run_inputs(batch=2, steps=15, seed=0):
    """Random steps of a continuous model (obs 6, actions 3), as model inputs."""
    rng = np.random.default_rng(seed)
    return [
        torch.tensor(rng.normal(size=(batch, steps, 6)), dtype=torch.float32),
        torch.tensor(rng.uniform(-1, 1, size=(batch, steps, 3)), dtype=torch.float32),
        torch.tensor(rng.normal(size=(batch, steps, 1)), dtype=torch.float32),
        torch.arange(1, steps + 1).repeat(batch, 1),
        torch.ones(batch, steps),
    ]


def test_config_checks_and_defaults():
    assert tiny_config().memory_scope == "window"
    # the balance loss works against carrying: off by default in the episode scope only
    assert tiny_config().memory_balance_weight == 0.1
    assert episode_config().memory_balance_weight == 0.0
    assert episode_config(memory_balance_weight=0.3).memory_balance_weight == 0.3
    with pytest.raises(ValueError, match="memory_scope"):
        tiny_config(memory_scope="forever")
    with pytest.raises(ValueError, match="memory_segments"):
        episode_config(memory_segments=0)
    with pytest.raises(ValueError, match="memory_burn_in"):
        episode_config(memory_burn_in=-1)
    with pytest.raises(ValueError, match="use_memory=True"):
        episode_config(use_memory=False)
    with pytest.raises(ValueError, match="SIMPLE"):
        episode_config(position_encoding_type=PositionEncodingType.GLOBAL)


def test_runs_are_cut_on_segment_boundaries_with_burn_in_and_end_padding():
    # two episodes of 7 and 12 steps; step values are their own indices
    steps = np.arange(19, dtype=np.float32)
    task = TaskArrays(
        name="t",
        observations=steps[:, None],
        actions=steps[:, None],
        rewards=np.ones((19, 1), np.float32),
        episode_offsets=np.array([0, 7, 19]),
        terminated=np.array([True, False]),
    )
    runs = slice_runs(task, np.array([0, 1]), np.array([-K, 5]), 3 * K)
    # episode 0 from its start after one padded burn-in segment; episode 1 from its step 5
    np.testing.assert_array_equal(runs.masks[0], [0] * 5 + [1] * 7 + [0] * 3)
    np.testing.assert_array_equal(runs.actions[0, 5:12, 0], np.arange(7))
    np.testing.assert_array_equal(runs.timesteps[0], [0] * 5 + list(range(1, 8)) + [0] * 3)
    np.testing.assert_array_equal(runs.terminals[0, :, 0], [0] * 11 + [1] + [0] * 3)
    np.testing.assert_array_equal(runs.masks[1], [1] * 7 + [0] * 8)
    np.testing.assert_array_equal(runs.actions[1, :7, 0], np.arange(12, 19))
    np.testing.assert_array_equal(runs.returns_to_go[1, :7, 0], np.arange(7, 0, -1))
    assert runs.terminals[1].sum() == 0  # a timed-out episode has no terminal

    rng = np.random.default_rng(0)
    episodes, first = run_starts(task, 500, K, segments=2, burn_in=1, rng=rng)
    trained_first = first + K
    assert (trained_first % K == 0).all(), "runs start on segment boundaries"
    lengths = np.diff(task.episode_offsets)[episodes]
    # trained segments stay inside the episode where it is long enough (12 steps: 3
    # segments, so the trained pair starts at segment 0 or 1), and at 0 otherwise
    assert set(trained_first[episodes == 0]) == {0}
    assert set(trained_first[episodes == 1]) == {0, K}
    assert (trained_first < lengths).all()


@pytest.mark.parametrize("addressing", ADDRESSING)
def test_predictions_ignore_later_tokens_also_across_windows(addressing):
    """Changing a_t (or any later token) leaves every prediction of actions and returns for
    steps <= t unchanged (of rewards: steps < t), whichever segment t lies in; and the
    carried memory makes later segments depend on it."""
    model = built(memory_addressing=addressing).impl.model.eval()
    inputs = run_inputs()
    with torch.no_grad():
        base = model(*inputs, segment_length=K)
        for step in (0, 3, 4, 7, 12):
            changed = [x.clone() for x in inputs]
            changed[1][:, step] += 0.7  # the action of step t
            changed[0][:, step + 1 :] += 1.0  # and every later observation
            changed[2][:, step + 1 :] -= 2.0  # and return-to-go
            out = model(*changed, segment_length=K)
            # a_t and r_t: the reward of step t is predicted from a_t's token, by design
            for name, last in (("action", step), ("return_to_go", step), ("reward", step - 1)):
                torch.testing.assert_close(
                    getattr(out, name)[:, : last + 1], getattr(base, name)[:, : last + 1]
                )
        # a_0 alone reaches the predictions of later segments through the memory only
        changed = [x.clone() for x in inputs]
        changed[1][:, 0] += 0.7
        moved = (model(*changed, segment_length=K).action - base.action).abs().amax(-1)
        assert (moved[:, K:] > 0).all(), "the memory carries a_0 into later windows"
        windows = model(*changed, segment_length=K, memory=None)
        assert torch.equal(windows.action, model(*changed, segment_length=K).action)


@pytest.mark.parametrize("addressing", ADDRESSING)
def test_segments_with_carried_memory_equal_one_run(addressing):
    model = built(memory_addressing=addressing).impl.model.eval()
    inputs = run_inputs()
    with torch.no_grad():
        whole = model(*inputs, segment_length=K, carry=True)
        first = model(*(x[:, :K] for x in inputs), carry=True)
        rest = model(*(x[:, K:] for x in inputs), memory=first.memory, segment_length=K, carry=True)
    torch.testing.assert_close(rest.action, whole.action[:, K:])
    torch.testing.assert_close(rest.memory, whole.memory)


@pytest.mark.parametrize("addressing", ADDRESSING)
@pytest.mark.parametrize("discrete", [False, True])
def test_inference_plays_an_episode_as_training_cuts_it(addressing, discrete):
    """Step-by-step inference (windows of the current segment, memory carried per episode)
    predicts what one forward pass over the episode's segments predicts."""
    algo = built(discrete=discrete, memory_addressing=addressing)
    greedy = GreedyTransformerActionSampler() if discrete else None
    policy = BatchedTransformerPolicy(algo, 3, target_return=3.0, action_sampler=greedy)
    rng = np.random.default_rng(1)
    steps = 13
    observations = rng.normal(size=(2, steps, 6)).astype(np.float32)
    rewards = rng.normal(size=(2, steps))
    actions = []
    for step in range(steps):
        previous = rewards[:, step - 1] if step else np.zeros(2)
        actions.append(policy.predict(observations[:, step], previous, [2, 0]))
    actions = np.array(actions, dtype=np.float32).transpose(1, 0, *range(2, np.ndim(actions)))
    actions = actions.reshape(2, steps, -1)

    returns = 3.0 - np.concatenate([np.zeros((2, 1)), np.cumsum(rewards[:, :-1], 1)], 1)
    length = 15  # three segments, the last two steps padding
    pad = ((0, 0), (0, length - steps))
    inputs = [
        np.pad(observations, pad + ((0, 0),)),
        np.pad(actions, pad + ((0, 0),)),
        np.pad(returns[..., None], pad + ((0, 0),)),
        np.pad(np.tile(np.arange(1, steps + 1), (2, 1)), pad),
        np.pad(np.ones((2, steps)), pad),
    ]
    with torch.no_grad():
        tensors = [torch.tensor(x, dtype=torch.float32) for x in inputs]
        tensors[3] = tensors[3].long()
        predicted = algo.impl.model.eval()(*tensors, segment_length=K).action[:, :steps]
    if discrete:
        np.testing.assert_array_equal(predicted.argmax(-1).numpy(), actions[..., 0])
    else:
        np.testing.assert_allclose(predicted.numpy(), actions, atol=1e-5)
    # the memory of an episode slot is the one its segments left; a reset restores M_0
    assert not torch.equal(policy.memory[0], policy.memory[1])
    policy.reset([0])
    torch.testing.assert_close(policy.memory[0], algo.impl.model.memory.memory_init)


def test_burn_in_carries_memory_without_loss_or_gradient():
    algo = built(memory_segments=2, memory_burn_in=1)
    buffer = synthetic_dataset(discrete=False, length=13)
    batch = EpisodeRuns(buffer, segments=2, burn_in=1, seed=0).sample_trajectory_batch(4, K)
    assert batch.observations.shape[:2] == (4, 3 * K)
    impl = algo.impl
    impl.modules.set_eval()
    torch_batch = d3rlpy.torch_utility.TorchTrajectoryMiniBatch.from_batch(batch, "cpu:0")
    losses = impl.compute_loss(torch_batch)
    # the burn-in segment's rewards (targets only, never inputs) do not enter the loss ...
    altered = d3rlpy.torch_utility.TorchTrajectoryMiniBatch.from_batch(batch, "cpu:0")
    altered.rewards[:, :K] += 5.0
    assert impl.compute_loss(altered)["loss"] == losses["loss"]
    # ... but its actions reach it through the memory, with no gradient into them
    altered.actions[:, :K] += 0.5
    altered.actions.requires_grad_(True)
    moved = impl.compute_loss(altered)["loss"]
    assert moved != losses["loss"]
    moved.backward()
    assert altered.actions.grad is None or not altered.actions.grad[:, :K].any()


def test_fit_on_a_plain_replay_buffer_and_on_load_minari(minari_path):
    from evaluation_helpers import write_cartpole_dataset

    from d3rlpy_dtmem.data import load_minari

    plain = synthetic_dataset(discrete=True, length=13)
    algo = episode_config().create()
    quiet_fit(algo, plain, 3)
    assert algo.grad_step == 3

    dataset_id = write_cartpole_dataset("cartpole/runs-v0", episodes=3)
    buffer = load_minari([dataset_id], prefetch=1)
    runs = EpisodeRuns(buffer, segments=2, burn_in=1)
    batch = runs.sample_trajectory_batch(6, K)
    assert batch.observations.shape[:2] == (6, 3 * K)
    assert runs.dataset_info == buffer.dataset_info  # everything else is the buffer's
    cartpole = episode_config().create()
    quiet_fit(cartpole, buffer, 3)
    assert cartpole.grad_step == 3
    buffer.close()


@pytest.mark.parametrize("addressing", ADDRESSING)
def test_contract_in_the_episode_scope(tmp_path, addressing):
    dataset = synthetic_dataset(discrete=False, observation_size=3, action_size=1, length=13)
    algo = episode_config(memory_addressing=addressing).create()
    env = gym.wrappers.TimeLimit(gym.make("Pendulum-v1"), max_episode_steps=23)
    check_algo_contract(algo, dataset, env, target_return=-100.0, tmp_path=tmp_path)
    loaded = d3rlpy.load_learnable(str(tmp_path / "model.d3"))
    assert loaded.config.memory_scope == "episode"
    assert loaded.config.memory_segments == 2 and loaded.config.memory_burn_in == 1


def test_lora_trains_in_the_episode_scope():
    algo = built(discrete=True)
    dataset = synthetic_dataset(discrete=True, length=13, seed=3)
    algo.enable_lora(rank=2)
    before = {k: v.clone() for k, v in algo.impl.model.state_dict().items() if "lora" in k}
    quiet_fit(algo, dataset, 3)
    after = algo.impl.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "adapters trained"


@pytest.mark.parametrize("addressing", ADDRESSING)
def test_memory_activity_covers_the_whole_episode(addressing):
    """The activity heatmap of an episode-scope model shows the write weights the agent's
    own passes computed, with the memory carried from segment to segment."""
    from d3rlpy_dtmem.envs import TMazeEnv
    from d3rlpy_dtmem.evaluation import memory_activity, record_trajectory

    d3rlpy.seed(0)
    algo = episode_config(memory_addressing=addressing).create()
    algo.build_with_env(TMazeEnv(corridor_length=7))
    closed = []  # the passes that close a segment carry the memory on, with real actions
    hook = algo.impl.model.memory.register_forward_hook(
        lambda _m, _a, read: closed.append(read.write[0]) if read.memory is not None else None
    )
    try:
        trajectory = record_trajectory(algo, TMazeEnv(corridor_length=7), 1.0, seed=0)
    finally:
        hook.remove()
    activity = memory_activity(algo, trajectory)
    assert activity.shape == (len(trajectory), algo.config.memory_slots)
    assert len(closed) == len(trajectory) // K >= 1
    np.testing.assert_allclose(torch.cat(closed).numpy(), activity[: len(closed) * K], atol=1e-5)
