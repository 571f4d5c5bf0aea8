"""docs/cli.md's option tables are generated from the commands: they cannot drift."""

from pathlib import Path

import pytest

from d3rlpy_dtmem.app.cli_docs import main, options_table, render

CLI_DOC = Path(__file__).parent.parent / "docs" / "cli.md"
COMMANDS = [
    "dtmem quickstart",
    "dtmem train",
    "dtmem finetune",
    "dtmem evaluate",
    "dtmem cartpole",
    "dtmem-convert atari",
    "dtmem-convert metaworld",
]


def test_the_option_tables_of_cli_md_match_the_commands():
    text = CLI_DOC.read_text()
    assert render(text) == text, "run: python -m d3rlpy_dtmem.app.cli_docs docs/cli.md"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_its_table(name):
    assert f"<!-- options: {name} -->" in CLI_DOC.read_text()
    table = options_table(name)
    assert table.startswith("| option | meaning |") and "--help" not in table


def test_a_stale_table_is_caught_and_rewritten(tmp_path):
    stale = tmp_path / "cli.md"
    stale.write_text("# x\n\n<!-- options: dtmem train -->\n| old |\n<!-- /options -->\n")
    assert main([str(stale), "--check"]) == 1
    assert main([str(stale)]) == 0
    assert "`--steps-per-epoch" in stale.read_text() and main([str(stale), "--check"]) == 0
