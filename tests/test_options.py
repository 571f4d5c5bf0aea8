"""One multi-value option style in every command: repeated, space- or comma-separated."""

import click
import pytest
from click.testing import CliRunner

from d3rlpy_dtmem.app.cli import dtmem_convert
from d3rlpy_dtmem.convert.atari_cli import parse_int_ranges
from d3rlpy_dtmem.options import MultiValueCommand, _spread, split_values


def test_spread_turns_values_after_a_flag_into_repeated_options():
    names = {"--games", "--runs"}
    args = ["--games", "A", "B", "--runs=1", "2", "--overwrite", "--games", "C"]
    assert _spread(args, names) == [
        "--games", "A", "--games", "B", "--runs=1", "--runs", "2", "--overwrite", "--games", "C",
    ]  # fmt: skip
    assert _spread(["--dataset-id", "x", "--", "y"], names) == ["--dataset-id", "x", "--", "y"]
    assert _spread(["--runs", "-1", "2"], names) == ["--runs", "-1", "--runs", "2"]


def test_split_values_accepts_spaces_and_commas():
    assert split_values(["a b", "c,d", " e ,f ", "g"]) == ["a", "b", "c", "d", "e", "f", "g"]
    assert split_values([]) == []
    assert parse_int_ranges(["0-2,5", "7 9"]) == (0, 1, 2, 5, 7, 9)


@click.command(cls=MultiValueCommand)
@click.option("--names", multiple=True)
@click.option("--seeds", multiple=True, default=("0",), callback=lambda c, p, v: v)
@click.option("--flag", is_flag=True)
def echo(names, seeds, flag):
    click.echo(" ".join(split_values(names)) + f" | {len(seeds)} {flag}")


@pytest.mark.parametrize(
    "args",
    [
        ["--names", "a", "b", "c"],
        ["--names", "a,b,c"],
        ["--names", "a b", "--names", "c"],
        ["--names", "a", "--names", "b,c"],
    ],
)
def test_every_style_gives_the_same_values(args):
    result = CliRunner().invoke(echo, [*args, "--flag"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "a b c | 1 True"


@pytest.mark.parametrize(
    "tasks", [["reach-v3 nope-v3"], ["reach-v3,nope-v3"], ["reach-v3", "nope-v3"]]
)
def test_metaworld_conversion_reads_each_task_of_a_list(tasks, tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    result = CliRunner().invoke(dtmem_convert, ["metaworld", "--tasks", *tasks, "--episodes", "1"])
    assert result.exit_code != 0
    assert "'nope-v3'" in result.output  # the bad name alone: the list was split
    assert "reach-v3 nope-v3" not in result.output and "reach-v3,nope-v3" not in result.output
    assert not list(tmp_path.iterdir())  # nothing written


def test_evaluate_seeds_take_commas(tmp_path):
    from d3rlpy_dtmem.app.cli import dtmem

    result = CliRunner().invoke(
        dtmem, ["evaluate", "--model", str(tmp_path / "none.d3"), "--env", "atari:Pong",
                "--seed", "0,x", "--out", str(tmp_path / "out")]
    )  # fmt: skip
    assert result.exit_code == 2
    assert "'x' is not an integer" in result.output
