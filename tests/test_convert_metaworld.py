"""`dtmem-convert metaworld`: scripted Meta-World rollouts written as Minari datasets."""

import minari
import numpy as np
import pytest
from click.testing import CliRunner

from d3rlpy_dtmem.app.cli import dtmem_convert
from d3rlpy_dtmem.convert.metaworld_datasets import (
    convert_metaworld,
    metaworld_dataset_ids,
    select_tasks,
)
from d3rlpy_dtmem.envs import ML45_TEST_TASKS, make_metaworld

STEPS = 150  # the experts of reach-v3 and door-unlock-v3 succeed within 35-105 steps


def convert(*args: str):
    return CliRunner().invoke(dtmem_convert, ["metaworld", *args])


def check_episode(episode, space, steps: int) -> None:
    assert episode.observations.shape == (steps + 1, 39)
    assert episode.observations.dtype == np.float32
    assert all(space.contains(o) for o in episode.observations)
    assert episode.actions.shape == (steps, 4) and episode.actions.dtype == np.float32
    assert np.all(np.abs(episode.actions) <= 1.0)
    assert episode.rewards.shape == (steps,) and np.all(np.isfinite(episode.rewards))
    assert not episode.terminations.any()
    np.testing.assert_array_equal(episode.truncations, np.arange(steps) == steps - 1)
    success = episode.infos["success"]
    assert success.shape == (steps + 1,) and success.dtype == bool and not success[0]


def test_train_task_with_hidden_goal_and_a_test_task(minari_path):
    result = convert(
        "--tasks", "reach-v3", "door-unlock-v3", "--episodes", "3", "--max-episode-steps", "150"
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "6/6" in result.output  # the progress bar ran over all episodes
    for task, split in (("reach-v3", "train"), ("door-unlock-v3", "test")):
        dataset = minari.load_dataset(f"metaworld/{task}-scripted-v0")
        assert dataset.total_episodes == 3 and dataset.total_steps == 3 * STEPS
        env = make_metaworld(task, seed=0, max_episode_steps=STEPS)
        assert dataset.observation_space == env.observation_space
        assert dataset.action_space == env.action_space
        episodes = [dataset[i] for i in range(3)]
        for episode in episodes:
            check_episode(episode, env.observation_space, STEPS)
            np.testing.assert_array_equal(episode.observations[:, 36:], 0.0)  # goal hidden
        # episode i is the i-th variant of make_metaworld(task, seed=seed)
        for episode in episodes:
            np.testing.assert_array_equal(episode.observations[0], env.reset()[0])
        assert not np.array_equal(episodes[0].actions, episodes[1].actions)
        succeeded = [bool(e.infos["success"].any()) for e in episodes]
        assert sum(succeeded) >= 2, f"{task}: scripted successes {succeeded}"
        metadata = dataset.storage.metadata
        assert metadata["task"] == task and metadata["benchmark"] == "ML45"
        assert metadata["split"] == split and metadata["seed"] == 0
        assert metadata["action_noise"] == 0.1 and metadata["goal_visible"] is False
        assert metadata["max_episode_steps"] == STEPS
        assert metadata["success_rate"] == pytest.approx(np.mean(succeeded))
        # Minari's and d3rlpy's own tools: the env comes back from the recorded spec, and
        # scores normalize between random play (ref_min) and the data's expert (ref_max)
        assert metadata["env_id"] == "d3rlpy_dtmem/MetaWorld-v0"
        recovered = dataset.recover_environment()
        assert recovered.spec.kwargs["task"] == task
        assert recovered.observation_space == dataset.observation_space
        np.testing.assert_array_equal(recovered.reset(seed=0)[0][36:], 0.0)  # goal hidden
        assert dataset.recover_environment(eval_env=True).spec.kwargs["hide_goal"] is True
        expert = np.mean([e.rewards.sum() for e in episodes])
        assert metadata["ref_max_score"] == pytest.approx(expert)
        assert metadata["ref_min_score"] < metadata["ref_max_score"]
        low, high = metadata["ref_min_score"], metadata["ref_max_score"]
        normalized = minari.get_normalized_score(dataset, np.array([low, high]))
        np.testing.assert_allclose(normalized, [0.0, 1.0])
        row = next(line for line in result.output.splitlines() if line.startswith(task))
        assert f"{np.mean(succeeded):.2f}" in row and split in row
    assert sorted(p.name for p in (minari_path / "metaworld").iterdir() if p.is_dir()) == [
        "door-unlock-v3-scripted-v0",
        "reach-v3-scripted-v0",
    ]


def test_library_call_with_the_goal_kept_and_a_custom_id():
    (result,) = convert_metaworld(
        ["reach-v3"],
        episodes=2,
        max_episode_steps=40,
        hide_goal=False,
        action_noise=0.0,
        seed=3,
        dataset_id="test/{task}-kept-v1",
        show_progress=False,
    )
    dataset = minari.load_dataset("test/reach-v3-kept-v1")
    metadata = dataset.storage.metadata
    assert metadata["goal_visible"] is True and metadata["action_noise"] == 0.0
    assert result.dataset_id == "test/reach-v3-kept-v1" and result.steps == 80
    assert result.success_rate == metadata["success_rate"]
    env = make_metaworld("reach-v3", seed=3, hide_goal=False, max_episode_steps=40)
    assert dataset.observation_space == env.observation_space
    for i in range(2):
        episode = dataset[i]
        check_episode(episode, env.observation_space, 40)
        np.testing.assert_array_equal(episode.observations[0], env.reset()[0])
        goal = episode.observations[:, 36:]
        assert np.all(goal == goal[0]) and np.any(goal[0] != 0)


def test_benchmark_split_reads_the_manifest(minari_path):
    result = convert(
        "--benchmark", "ML45", "--split", "test", "--episodes", "1", "--max-episode-steps", "3"
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for task in ML45_TEST_TASKS:
        metadata = minari.load_dataset(f"metaworld/{task}-scripted-v0").storage.metadata
        assert (metadata["split"], metadata["total_steps"]) == ("test", 3)
    assert len(list((minari_path / "metaworld").glob("*-scripted-v0"))) == 5


def test_existing_dataset_needs_overwrite():
    def first_observation() -> np.ndarray:
        return minari.load_dataset("metaworld/reach-v3-scripted-v0")[0].observations[0]

    args = ["reach-v3", "--episodes", "1", "--max-episode-steps", "5"]
    assert convert(*args).exit_code == 0
    before = first_observation()
    result = convert(*args, "--seed", "1")
    assert result.exit_code == 1
    assert "Error: dataset 'metaworld/reach-v3-scripted-v0' already exists" in result.output
    assert "Traceback" not in result.output
    np.testing.assert_array_equal(first_observation(), before)
    result = convert(*args, "--seed", "1", "--overwrite")
    assert result.exit_code == 0, result.output
    assert not np.array_equal(first_observation(), before)  # another variant
    assert minari.load_dataset("metaworld/reach-v3-scripted-v0").storage.metadata["seed"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tasks", "reach-v2"], "unknown Meta-World task 'reach-v2' (did you mean 'reach-v3'"),
        (["--benchmark", "ML10", "--split", "train"], "'ML10' is not 'ML45'"),
        (["--benchmark", "ML45"], "benchmark ML45 needs a split"),
        (["--split", "test"], "split 'test' needs a benchmark"),
        (["--tasks", "reach-v3", "--benchmark", "ML45", "--split", "train"], "not both"),
        ([], "no tasks"),
        (["reach-v3", "--episodes", "0"], "Invalid value for '--episodes': 0 is not in the"),
        (["reach-v3", "--action-noise", "-1"], "Invalid value for '--action-noise'"),
        (["reach-v3", "--max-episode-steps", "501"], "'--max-episode-steps': 501"),
        (["reach-v3", "--dataset-id", "metaworld/{game}-v0"], "invalid dataset id template"),
        (["reach-v3", "door-lock-v3", "--dataset-id", "mw/one-v0"], "add '{task}'"),
        (["reach-v3", "--dataset-id", "{task}-scripted-v0"], "invalid dataset id"),
    ],
)
def test_bad_input_is_a_one_line_error_and_writes_nothing(args, message, minari_path):
    # short runs in case the input were wrongly accepted (a later value of an option wins)
    result = convert("--episodes", "1", "--max-episode-steps", "2", *args)
    assert result.exit_code in (1, 2), result.output
    assert isinstance(result.exception, SystemExit)
    assert message in result.output
    assert "Traceback" not in result.output
    assert not minari_path.exists() or not any(minari_path.rglob("*.hdf5"))


def test_task_selection_and_ids():
    assert select_tasks(["reach-v3", "reach-v3", "push-v3"]) == ("reach-v3", "push-v3")
    assert select_tasks([], "ml45", "test") == ML45_TEST_TASKS
    assert len(select_tasks([], "ML45", "train")) == 45
    assert metaworld_dataset_ids("mw/{task}-x-v2", ["reach-v3"]) == {"reach-v3": "mw/reach-v3-x-v2"}
    with pytest.raises(ValueError, match="unknown benchmark 'ML10'"):
        select_tasks([], "ML10", "train")
    result = convert(
        "--tasks", "reach-v3,door-unlock-v3", "--episodes", "1", "--max-episode-steps", "2"
    )
    assert result.exit_code == 0, result.output
    assert "reach-v3" in result.output and "door-unlock-v3" in result.output


def test_skip_existing_converts_only_the_missing_tasks(minari_path):
    options = dict(episodes=1, max_episode_steps=5, show_progress=False)
    convert_metaworld(["reach-v3"], **options)
    stamp = {p: p.stat().st_mtime_ns for p in minari_path.rglob("*.hdf5")}
    results = convert_metaworld(["reach-v3", "push-v3"], skip_existing=True, **options)
    assert [result.task for result in results] == ["push-v3"]
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp
    assert minari.load_dataset("metaworld/push-v3-scripted-v0").total_episodes == 1


def test_an_interrupted_conversion_resumes_with_skip_existing(minari_path):
    first = convert("--tasks", "reach-v3", "--episodes", "1", "--max-episode-steps", "3")
    assert first.exit_code == 0, first.output
    again = convert("--tasks", "reach-v3 push-v3", "--episodes", "1", "--max-episode-steps", "3")
    assert again.exit_code != 0 and "already exists" in again.output  # refused, not half-done
    resumed = convert(
        "--tasks", "reach-v3", "push-v3", "--episodes", "1", "--max-episode-steps", "3",
        "--skip-existing",
    )  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    assert "skipped metaworld/reach-v3-scripted-v0: it exists (--skip-existing)" in resumed.output
    assert "metaworld/push-v3-scripted-v0" in resumed.output
    both = convert("--tasks", "reach-v3", "--overwrite", "--skip-existing")
    assert both.exit_code == 2 and "exclude each other" in both.output
