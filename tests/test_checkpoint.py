"""Checkpoints: atomic writes (a write that fails midway), resuming grad_step and the LR schedule,
and one-line errors for bad model files."""

import os
import pickle
import subprocess
import sys

import d3rlpy
import numpy as np
import pytest
import torch
from helpers import synthetic_dataset, tiny_config, window_input

import d3rlpy_dtmem
from d3rlpy_dtmem.checkpoint import CheckpointError, load_checkpoint
from d3rlpy_dtmem.files import atomic_write

# Runs in a child process: a file-size limit there cannot disturb pytest's own files.
# RLIMIT_FSIZE makes a write past the limit fail with EFBIG (SIGXFSZ ignored), midway
# through the file, as a full disk does.
FAILING_SAVES = """
import resource, signal, sys
import d3rlpy, numpy as np
sys.path.insert(0, {tests!r})
from helpers import synthetic_dataset, tiny_config
d3rlpy.seed(0)
dataset = synthetic_dataset(discrete=True)
algo = tiny_config().create()
algo.build_with_dataset(dataset)
algo.save({model!r})
size = __import__("os").path.getsize({model!r})
algo.update(dataset.sample_trajectory_batch(8, 5))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (size // 2, resource.RLIM_INFINITY))
for name, save in (
    ("save", lambda: algo.save({model!r})),
    ("fit", lambda: algo.fit(
        dataset, n_steps=1, n_steps_per_epoch=1, experiment_name="run", with_timestamp=False,
        logger_adapter=d3rlpy.logging.FileAdapterFactory(root_dir={logs!r}),
        show_progress=False)),
):
    try:
        save()
    except OSError as error:
        print(name, "failed", error.errno)
"""


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_save_that_fails_midway_leaves_the_previous_file(tmp_path):
    model, logs = tmp_path / "model.d3", tmp_path / "logs"
    code = FAILING_SAVES.format(tests=os.path.dirname(__file__), model=str(model), logs=str(logs))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "save failed 27" in done.stdout and "fit failed 27" in done.stdout  # EFBIG
    # the first, complete save is intact; no temporary file is left behind
    assert listing(tmp_path) == ["logs", "model.d3"]
    algo = load_checkpoint(model)
    assert algo.grad_step == 0
    # fit got as far as its per-epoch checkpoint: no model_1.d3, partial or not
    run = logs / "run"
    assert "params.json" in listing(run) and not [n for n in listing(run) if ".d3" in n]


def test_atomic_write_keeps_the_old_file_on_error_and_follows_the_umask(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="midway"), atomic_write(path) as f:
        f.write(b"new, half")
        raise RuntimeError("midway")
    assert path.read_bytes() == b"old" and listing(tmp_path) == ["file.bin"]
    with atomic_write(path) as f:
        f.write(b"new")
    assert path.read_bytes() == b"new" and listing(tmp_path) == ["file.bin"]
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"")
    assert path.stat().st_mode == plain.stat().st_mode


def resumable_config():
    # no dropout: the same batches then give the same updates, run in one go or resumed
    return tiny_config(attn_dropout=0.0, resid_dropout=0.0, embed_dropout=0.0)


def fixed_batches(count):
    dataset = synthetic_dataset(discrete=True)
    np.random.seed(3)
    return dataset, [dataset.sample_trajectory_batch(8, 5) for _ in range(count)]


def fresh(dataset):
    d3rlpy.seed(0)
    algo = resumable_config().create()
    algo.build_with_dataset(dataset)
    return algo


def test_resumed_training_continues_the_step_count_and_lr_schedule(tmp_path):
    dataset, batches = fixed_batches(8)
    straight = fresh(dataset)
    expected = [straight.update(batch)["learning_rate"] for batch in batches]

    first = fresh(dataset)
    rates = [first.update(batch)["learning_rate"] for batch in batches[:5]]
    first.save(str(tmp_path / "model.d3"))
    resumed = load_checkpoint(tmp_path / "model.d3")
    assert resumed.grad_step == 5
    rates += [resumed.update(batch)["learning_rate"] for batch in batches[5:]]

    assert rates == expected and expected[-1] > expected[4]  # still warming up at step 5
    assert resumed.grad_step == straight.grad_step == 8
    want = straight.impl.model.state_dict()
    for name, got in resumed.impl.model.state_dict().items():
        torch.testing.assert_close(got, want[name], rtol=0, atol=1e-6, msg=name)
    # d3rlpy's loader reads the same file (without the step count)
    assert isinstance(d3rlpy.load_learnable(str(tmp_path / "model.d3")), d3rlpy_dtmem.DTMem)


def test_fit_checkpoints_resume_with_their_step(tmp_path):
    dataset = synthetic_dataset(discrete=True)
    algo = fresh(dataset)
    algo.fit(
        dataset,
        n_steps=4,
        n_steps_per_epoch=2,
        experiment_name="run",
        with_timestamp=False,
        logger_adapter=d3rlpy.logging.FileAdapterFactory(root_dir=str(tmp_path)),
        show_progress=False,
    )
    resumed = load_checkpoint(tmp_path / "run" / "model_2.d3")
    assert resumed.grad_step == 2
    scheduler = resumed.impl.modules.optim.state_dict()["lr_scheduler"]
    assert scheduler["last_epoch"] == 2
    inpt = window_input(dataset, 5)
    final = load_checkpoint(tmp_path / "run" / "model_4.d3")
    np.testing.assert_allclose(final.predict(inpt), algo.predict(inpt), atol=1e-6)


def write_model(tmp_path):
    algo = tiny_config().create()
    algo.build_with_dataset(synthetic_dataset(discrete=True))
    path = tmp_path / "model.d3"
    algo.save(str(path))
    return path


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def corrupt_weights(path):
    payload = pickle.loads(path.read_bytes())
    payload["torch"] = payload["torch"][:1000]
    path.write_bytes(pickle.dumps(payload))


def foreign_model(path):
    other = d3rlpy.algos.DiscreteBCConfig().create()
    other.build_with_dataset(synthetic_dataset(discrete=True))
    other.save(str(path))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.unlink(), "no such model file"),
        (truncate, r"not a readable d3rlpy model \(truncated or corrupt"),
        (lambda p: p.write_bytes(b"\x00garbage" * 50), "not a readable d3rlpy model"),
        (lambda p: p.write_bytes(pickle.dumps([1, 2])), "not a d3rlpy model file"),
        (corrupt_weights, "weights do not load"),
        (foreign_model, "a DiscreteBC model, not DT-Mem"),
    ],
)
def test_bad_model_files_give_one_line_errors(tmp_path, damage, message):
    path = write_model(tmp_path)
    damage(path)
    with pytest.raises(CheckpointError, match=message) as error:
        load_checkpoint(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
