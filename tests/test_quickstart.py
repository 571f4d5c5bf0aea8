"""`dtmem quickstart` (what `make demo` runs), end to end with the smallest settings."""

import json
import struct

import d3rlpy
import minari
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from d3rlpy_dtmem.app.cli import dtmem
from d3rlpy_dtmem.app.demo_targets import check_targets, demo_measures
from d3rlpy_dtmem.app.quickstart import QuickstartSettings, quickstart_model, run_quickstart
from d3rlpy_dtmem.convert import use_minari_root


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_quickstart_runs_and_writes_its_report(tmp_path):
    out = tmp_path / "qs"
    args = [
        "quickstart",
        "--out",
        str(out),
        "--tasks",
        "reach-v3 push-v3",
        "--episodes",
        "1",
        "--steps",
        "10",
        "--finetune-steps",
        "10",
        "--eval-episodes",
        "1",
        "--batch-size",
        "4",
    ]
    result = CliRunner().invoke(dtmem, args)
    assert result.exit_code == 0, result.output
    for stage in ("DT-Mem    pretrain", "DT-Mem    zero-shot", "no memory zero-shot", "full FT"):
        assert stage in result.output
    assert "DT-Mem    LoRA" in result.output
    assert f"tensorboard --logdir {out / 'logs'}" in result.output

    report = (out / "report.md").read_text()
    assert "| DT-Mem | LoRA | test | door-unlock-v3 |" in report
    assert "full fine-tuning 600 steps, cosine learning rate" in report
    assert "| no memory | pretrain | train | push-v3 |" in report
    summary = json.loads((out / "summary.json").read_text())
    assert [row["episodes"] for row in summary["tasks"]] == [3] * 8  # 3 seeds x 1 episode
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [(r["model"], r["stage"], r["split"], r["task"]) for r in rows] == [
        ("DT-Mem", "pretrain", "train", "reach-v3"),
        ("DT-Mem", "pretrain", "train", "push-v3"),
        ("DT-Mem", "zero-shot", "test", "door-unlock-v3"),
        ("no memory", "pretrain", "train", "reach-v3"),
        ("no memory", "pretrain", "train", "push-v3"),
        ("no memory", "zero-shot", "test", "door-unlock-v3"),
        ("DT-Mem", "LoRA", "test", "door-unlock-v3"),
        ("DT-Mem", "full FT", "test", "door-unlock-v3"),
    ]
    for row, task in zip(rows, summary["tasks"], strict=True):
        assert row["success"] == task["score"]["point"]
        assert row["ci"][0] <= row["success"] <= row["ci"][1]
        assert 0 < row["trainable_parameters"] <= row["total_parameters"]
    # the demo's targets, checked on this run's rows, in the report and the output
    assert "## The demo's targets in this run" in report
    for check in check_targets(demo_measures(rows)):
        (line,) = [line for line in report.splitlines() if line.startswith(f"| {check.name} |")]
        met = "yes" if check.met else "no"
        assert f"| {check.value:.3f} | {check.needed:.3f} | {met} |" in line
        assert line.endswith("] |"), line  # with the margin's interval
        assert f"  {check.name}: {check.value:.3f} (needed {check.needed:.3f})" in result.output
    lora = rows[6]
    assert lora["trainable_parameters"] < 0.05 * lora["total_parameters"]
    assert rows[7]["trainable_parameters"] == rows[7]["total_parameters"]
    for name in ("success_rate.png", "training_curves.png", "memory_activity.png"):
        width, height = png_size(out / name)
        assert width > 100 and height > 100
    assert list((out / "logs").rglob("events.out.tfevents.*")), "TensorBoard logs"
    base = d3rlpy.load_learnable(str(out / "dtmem_pretrained.d3"))
    assert base.config.batch_size == 4
    assert base.config.memory_balance_weight == QuickstartSettings().balance_weight == 0.0
    assert base.load_adapter(out / "adapter.pt") == "default"
    # every task is evaluated at its own best data return
    with use_minari_root(out / "minari"):
        for dataset_id in minari.list_local_datasets():
            task = dataset_id.split("/")[1].rsplit("-", 2)[0]
            episodes = minari.load_dataset(dataset_id).iterate_episodes()
            best = max(float(np.sum(episode.rewards)) for episode in episodes)
            assert f"{task} {best:.0f}" in report, (task, best)

    # a re-run reuses the generated data; with two fine-tuning runs of each kind, the held-out
    # rows pool the episodes of both (their seeds), the other rows are unchanged
    datasets = sorted(p.name for p in (out / "minari" / "quickstart").iterdir())
    stamp = {p: p.stat().st_mtime_ns for p in (out / "minari").rglob("*.hdf5")}
    rerun = CliRunner().invoke(dtmem, [*args, "--finetune-runs", "2", "--average-checkpoints", "2"])
    assert rerun.exit_code == 0, rerun.output
    assert "(2 runs each)" in rerun.output
    assert sorted(p.name for p in (out / "minari" / "quickstart").iterdir()) == datasets
    assert {p: p.stat().st_mtime_ns for p in (out / "minari").rglob("*.hdf5")} == stamp
    summary = json.loads((out / "summary.json").read_text())
    assert [row["episodes"] for row in summary["tasks"]] == [3] * 6 + [6, 6]
    assert summary["tasks"][6]["seeds"] == [1000, 1001, 1002] * 2
    rerun_rows = json.loads((out / "results.json").read_text())["rows"]
    assert [row["stage"] for row in rerun_rows] == [row["stage"] for row in rows]
    for kind in ("lora", "full"):
        assert (out / "logs" / f"finetune-{kind}-run1" / "loss.csv").is_file()
    assert "2 runs of each, their episodes pooled" in (out / "report.md").read_text()
    # pre-training ended with the mean of the weights after its last 2 epochs (of 1 update)
    assert "the mean of the weights of its last 2 epochs" in (out / "report.md").read_text()
    base = d3rlpy.load_learnable(str(out / "dtmem_pretrained.d3")).impl.modules.model
    logs = out / "logs" / "pretrain-dtmem"
    last = [d3rlpy.load_learnable(str(logs / f"model_{s}.d3")).impl.modules.model for s in (9, 10)]
    for name, value in base.state_dict().items():
        if value.is_floating_point():
            expected = (last[0].state_dict()[name] + last[1].state_dict()[name]) / 2
            assert torch.allclose(value, expected), name


@pytest.mark.parametrize("field", ["finetune_runs", "average_checkpoints"])
def test_quickstart_refuses_zero_counts_before_writing(tmp_path, field):
    out = tmp_path / "qs"
    with pytest.raises(ValueError, match=f"{field} must be at least 1, got 0"):
        run_quickstart(QuickstartSettings(out=out, **{field: 0}))
    assert not out.exists()
    flag = "--" + field.replace("_", "-")
    result = CliRunner().invoke(dtmem, ["quickstart", "--out", str(out), flag, "0"])
    assert result.exit_code != 0 and flag in result.output


@pytest.mark.parametrize("stage", ["pretrain", "finetune"])
def test_quickstart_refuses_an_unknown_schedule_before_writing(tmp_path, stage):
    out = tmp_path / "qs"
    with pytest.raises(ValueError, match=f"{stage}_schedule must be one of .* got 'linear'"):
        run_quickstart(QuickstartSettings(out=out, **{f"{stage}_schedule": "linear"}))
    assert not out.exists()
    args = ["quickstart", "--out", str(out), f"--{stage}-schedule", "linear"]
    result = CliRunner().invoke(dtmem, args)
    assert result.exit_code != 0 and f"--{stage}-schedule" in result.output


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_quickstart_models_pretrain_on_the_chosen_schedule(schedule):
    settings = QuickstartSettings(steps=1234, pretrain_schedule=schedule)
    for use_memory in (True, False):
        factory = quickstart_model(use_memory, settings).config.optim_factory.lr_scheduler_factory
        assert factory.warmup_steps == 50  # the tiny preset's warmup either way
        assert getattr(factory, "decay_steps", None) == (1234 if schedule == "cosine" else None)
