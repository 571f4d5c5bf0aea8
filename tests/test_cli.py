"""The command-line entry points."""

import d3rlpy
from click.testing import CliRunner

from d3rlpy_dtmem.app.cli import dtmem, dtmem_convert


def test_help_of_both_commands():
    runner = CliRunner()
    for command in (dtmem, dtmem_convert):
        result = runner.invoke(command, ["--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_cartpole_runs_end_to_end_and_saves_a_loadable_model(tmp_path):
    result = CliRunner().invoke(
        dtmem,
        ["cartpole", "--steps", "10", "--episodes", "3", "--trials", "1", "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    assert "DT-Mem (target 500)" in result.output
    algo = d3rlpy.load_learnable(str(tmp_path / "dtmem_cartpole.d3"))
    assert algo.config.get_type() == "dt_mem"


def test_cartpole_rejects_bad_values():
    result = CliRunner().invoke(dtmem, ["cartpole", "--steps", "0"])
    assert result.exit_code != 0
    assert "--steps" in result.output


def test_the_old_demo_name_runs_cartpole_with_a_note(tmp_path):
    help_text = CliRunner().invoke(dtmem, ["--help"]).output
    assert "cartpole" in help_text and " demo " not in help_text  # hidden, not confusable
    result = CliRunner().invoke(
        dtmem,
        ["demo", "--steps", "10", "--episodes", "3", "--trials", "1", "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    assert "'dtmem demo' is now 'dtmem cartpole'" in result.output
    assert (tmp_path / "dtmem_cartpole.d3").is_file()


def test_ctrl_c_exits_130_with_one_line(monkeypatch, tmp_path):
    import d3rlpy_dtmem.app.jobs as jobs

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(jobs, "train", interrupted)
    result = CliRunner().invoke(
        dtmem, ["train", "--datasets", "test/any-v0", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 130
    assert "interrupted" in result.output and "Traceback" not in result.output


def test_errors_and_help_keep_their_exit_codes():
    assert CliRunner().invoke(dtmem, ["--help"]).exit_code == 0
    assert CliRunner().invoke(dtmem, ["nope"]).exit_code == 2
    assert CliRunner().invoke(dtmem, ["train", "--steps", "0"]).exit_code == 2
    assert CliRunner().invoke(dtmem_convert, ["metaworld", "--tasks", "nope-v3"]).exit_code == 2
    missing = ["evaluate", "--model", "missing.d3", "--env", "atari:Pong", "--out", "never"]
    result = CliRunner().invoke(dtmem, missing)
    assert result.exit_code == 1 and "missing.d3: no such model file" in result.output
