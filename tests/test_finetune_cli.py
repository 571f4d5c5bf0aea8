"""`dtmem finetune`: LoRA adapter or full model out, clear errors for bad input."""

import d3rlpy
import pytest
import torch
from click.testing import CliRunner
from helpers import tiny_config, write_policy_dataset

from d3rlpy_dtmem.app.cli import dtmem
from d3rlpy_dtmem.data import load_minari


@pytest.fixture
def base(tmp_path):
    write_policy_dataset("test/base-v0")
    write_policy_dataset("test/shifted-v0", shift=1, seed=1)
    write_policy_dataset("test/wide-v0", observation_size=9, seed=2)
    algo = tiny_config().create()
    algo.fit(
        load_minari("test/base-v0"),
        n_steps=20,
        n_steps_per_epoch=20,
        show_progress=False,
        logger_adapter=d3rlpy.logging.NoopAdapterFactory(),
    )
    algo.save(str(tmp_path / "base.d3"))
    return tmp_path / "base.d3"


def run(*args):
    return CliRunner().invoke(dtmem, ["finetune", *map(str, args)])


def test_lora_writes_an_adapter_that_loads_onto_the_base(base, tmp_path):
    out = tmp_path / "lora"
    frames = tmp_path / "frames"
    result = run(
        *("--model", base, "--datasets", "test/shifted-v0", "--steps", 8, "--out", out),
        *("--mmap-dir", frames),
    )
    assert result.exit_code == 0, result.output
    assert "lora: trained 1,536 of" in result.output
    assert [p.name.split("-")[0] for p in frames.glob("*.npy")] == ["test__shifted"]
    assert (out / "adapter.pt").is_file()
    assert (out / "logs" / "finetune-lora" / "loss.csv").is_file()
    restored = d3rlpy.load_learnable(str(base))
    assert restored.load_adapter(out / "adapter.pt") == "default"


@pytest.mark.parametrize("mode", ["full-memory", "full"])
def test_full_modes_write_a_model(base, tmp_path, mode):
    out = tmp_path / mode
    result = run(
        "--model", base, "--datasets", "test/shifted-v0", "--mode", mode, "--steps", 4, "--out", out
    )
    assert result.exit_code == 0, result.output
    assert d3rlpy.load_learnable(str(out / "model.d3")).config.get_type() == "dt_mem"


def test_bad_inputs_give_one_line_errors(base, tmp_path):
    cases = [
        (
            ["--model", tmp_path / "nope.d3", "--datasets", "test/shifted-v0"],
            "nope.d3: no such model file",
        ),
        (["--model", base, "--datasets", "test/missing-v0"], "test/missing-v0"),
        (["--model", base, "--datasets", "test/wide-v0"], "do not match the model's"),
        (["--model", base, "--datasets", "test/shifted-v0", "--mode", "half"], "Invalid value"),
    ]
    (tmp_path / "junk.d3").write_bytes(b"junk")
    (tmp_path / "frames").write_text("")
    cases.append(
        (
            ["--model", base, "--datasets", "test/shifted-v0", "--mmap-dir", tmp_path / "frames"],
            "is a file",
        )
    )
    cases.append(
        (
            ["--model", tmp_path / "junk.d3", "--datasets", "test/shifted-v0"],
            "junk.d3: not a readable d3rlpy model",
        )
    )
    for args, message in cases:
        result = run(*args, "--steps", 2, "--out", tmp_path / "out")
        assert result.exit_code != 0
        assert message in result.output, result.output
        assert "Traceback" not in result.output


def test_lr_sets_the_fine_tuning_learning_rate(base, tmp_path):
    def last_rate(*options):
        out = tmp_path / "-".join(map(str, options or ("default",)))
        args = ("--model", base, "--datasets", "test/shifted-v0", "--steps", 12, "--out", out)
        result = run(*args, *options)
        assert result.exit_code == 0, result.output
        rows = (out / "logs" / "finetune-lora" / "learning_rate.csv").read_text().split()
        return float(rows[-1].split(",")[-1])

    # the logged rate is the epoch's mean over the same warmup: proportional to the peak
    assert last_rate("--lr", 0.02) / last_rate() == pytest.approx(0.02 / 1e-3)  # default 1e-3
    result = run("--model", base, "--datasets", "test/shifted-v0", "--lr", 0, "--out", tmp_path)
    assert result.exit_code != 0 and "Invalid value for '--lr'" in result.output


def test_lora_epochs_checkpoint_the_adapter_not_the_base(base, tmp_path):
    out = tmp_path / "lora"
    result = run(
        *("--model", base, "--datasets", "test/shifted-v0", "--steps", 12, "--out", out),
        *("--lr", "0.01"),
    )
    assert result.exit_code == 0, result.output
    # steps_per_epoch is min(steps, 1000): one epoch; run the API for several
    from d3rlpy_dtmem.app.jobs import finetune

    out = tmp_path / "epochs"
    finetune(base, ["test/shifted-v0"], out, steps=12, steps_per_epoch=4, show_progress=False)
    run_dir = out / "logs" / "finetune-lora"
    assert sorted(p.name for p in run_dir.glob("*.d3")) == []  # no copies of the base
    checkpoints = sorted(run_dir.glob("adapter_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    assert [p.name for p in checkpoints] == ["adapter_4.pt", "adapter_8.pt", "adapter_12.pt"]
    weights = []
    for path in checkpoints:
        restored = d3rlpy.load_learnable(str(base))
        restored.load_adapter(path)
        weights.append(restored.impl.model.memory.out.lora_B["default"].weight.detach().clone())
    assert not torch.equal(weights[0], weights[1]) and not torch.equal(weights[1], weights[2])
    final = d3rlpy.load_learnable(str(base))
    final.load_adapter(out / "adapter.pt")
    assert torch.equal(final.impl.model.memory.out.lora_B["default"].weight, weights[-1])


def test_an_interrupted_lora_run_resumes_to_its_step_count(base, tmp_path):
    from d3rlpy_dtmem.app.jobs import finetune

    out = tmp_path / "run"
    finetune(base, ["test/shifted-v0"], out, steps=8, steps_per_epoch=4, show_progress=False)
    run_dir = out / "logs" / "finetune-lora"
    (out / "adapter.pt").unlink()  # as if stopped after step 8 of 16
    saved = torch.load(run_dir / "adapter_8.pt", weights_only=True)
    assert saved["training"]["adapter_steps"] == 8
    base_steps = saved["training"]["grad_step"] - 8  # the base's own updates (20)

    resumed = d3rlpy.load_learnable(str(base))
    resumed.resume_adapter(run_dir / "adapter_8.pt")
    assert resumed.adapter_steps == 8 and resumed.grad_step == base_steps + 8
    state = resumed.impl.modules.optim.state_dict()["optim"]["state"]
    assert state and all(int(s["step"]) == 8 for s in state.values())  # AdamW moments restored

    result = run(
        "--model", base, "--datasets", "test/shifted-v0", "--steps", 16, "--resume", out
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (out / "adapter.pt").is_file()
    assert (run_dir / "adapter_16.pt").is_file()  # one epoch of the 8 missing steps
    rows = [line.split(",") for line in (run_dir / "loss.csv").read_text().split()]
    assert [(int(epoch), int(step)) for epoch, step, _ in rows] == [(1, 4), (2, 8), (3, 16)]
    done = torch.load(out / "logs" / "finetune-lora" / "adapter_16.pt", weights_only=True)
    assert done["training"]["adapter_steps"] == 16
    assert done["training"]["grad_step"] == base_steps + 16


def test_schedule_decays_the_rate_to_zero_at_the_last_step(base, tmp_path):
    def rates(out, *options):
        args = ("--model", base, "--datasets", "test/shifted-v0", "--steps", 60, "--out", out)
        result = run(*args, "--lr", 0.01, *options)
        assert result.exit_code == 0, result.output
        saved = torch.load(out / "logs" / "finetune-lora" / "adapter_60.pt", weights_only=True)
        return [group["lr"] for group in saved["training"]["optimizer"]["optim"]["param_groups"]]

    assert set(rates(tmp_path / "constant")) == {0.01}  # the default holds the rate
    assert set(rates(tmp_path / "cosine", "--schedule", "cosine")) == {0.0}  # 0 at --steps
    saved = torch.load(tmp_path / "cosine/logs/finetune-lora/adapter_60.pt", weights_only=True)
    assert saved["training"]["decay_steps"] == 60
    result = run("--model", base, "--datasets", "test/shifted-v0", "--schedule", "step")
    assert result.exit_code != 0 and "Invalid value for '--schedule'" in result.output


def test_resume_continues_the_schedule_and_refuses_to_train_past_its_end(base, tmp_path):
    from d3rlpy_dtmem.app.jobs import finetune

    out = tmp_path / "run"
    finetune(
        *(base, ["test/shifted-v0"], out),
        **{"steps": 8, "steps_per_epoch": 4, "schedule": "cosine", "show_progress": False},
    )
    run_dir = out / "logs" / "finetune-lora"
    resumed = d3rlpy.load_learnable(str(base))
    resumed.resume_adapter(run_dir / "adapter_4.pt")
    assert resumed.adapter_decay_steps == 8
    (out / "adapter.pt").unlink()
    (run_dir / "adapter_8.pt").unlink()  # as if stopped after step 4 of 8
    result = run("--model", base, "--datasets", "test/shifted-v0", "--steps", 8, "--resume", out)
    assert result.exit_code == 0, result.output
    saved = torch.load(run_dir / "adapter_8.pt", weights_only=True)
    assert {g["lr"] for g in saved["training"]["optimizer"]["optim"]["param_groups"]} == {0.0}
    (out / "adapter.pt").unlink()
    result = run("--model", base, "--datasets", "test/shifted-v0", "--steps", 16, "--resume", out)
    assert result.exit_code != 0
    assert "decays to 0 at step 8" in result.output and "--steps 16" in result.output


def test_resume_refuses_what_it_cannot_continue(base, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["--resume", empty, "--steps", 8], "no adapter checkpoint to resume"),
        (["--resume", tmp_path / "none", "--steps", 8], "no such run folder"),
        (["--resume", empty, "--mode", "full", "--steps", 8], "LoRA runs only"),
        (["--steps", 8], "Missing option '--out'"),
        (["--resume", empty, "--out", tmp_path / "other"], "leave out --out"),
    ]
    for args, message in cases:
        result = run("--model", base, "--datasets", "test/shifted-v0", *args)
        assert result.exit_code != 0
        assert message in result.output, (args, result.output)


def test_an_adapter_or_a_policy_as_model_says_what_the_file_is(base, tmp_path):
    algo = d3rlpy.load_learnable(str(base))
    algo.enable_lora()
    algo.save_adapter(tmp_path / "adapter.pt")
    algo.disable_lora()
    algo.save_policy(str(tmp_path / "policy.pt"))
    for name, kind in [("adapter.pt", "a LoRA adapter file"), ("policy.pt", "a TorchScript")]:
        result = run("--model", tmp_path / name, "--datasets", "test/shifted-v0", "--out", "x")
        assert result.exit_code == 1
        assert f"{name}: {kind}" in result.output and "not a DT-Mem model" in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_finetune_into_a_used_out_is_refused_unless_overwrite(base, tmp_path):
    out = tmp_path / "lora"
    args = ("--model", base, "--datasets", "test/shifted-v0", "--steps", 4, "--out", out)
    assert run(*args).exit_code == 0
    refused = run(*args)
    assert refused.exit_code == 1 and "already holds a fine-tuning run" in refused.output
    (out / "logs" / "finetune-lora" / "stale.csv").write_text("old")
    replaced = run(*args, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert not (out / "logs" / "finetune-lora" / "stale.csv").exists()
    assert (out / "adapter.pt").is_file()
