"""The option tables of ``docs/cli.md``, generated from the click commands themselves.

A table sits between ``<!-- options: dtmem train -->`` and ``<!-- /options -->`` markers;
:func:`render` rewrites every such block from the command's options (the same text as its
``--help``), so the docs cannot drift from the code (``tests/test_cli_docs.py`` checks it)::

    python -m d3rlpy_dtmem.app.cli_docs docs/cli.md          # rewrite the tables
    python -m d3rlpy_dtmem.app.cli_docs docs/cli.md --check  # exit 1 if they are stale
"""

import re
import sys
from pathlib import Path

import click

from .cli import dtmem, dtmem_convert

__all__ = ["command", "options_table", "render"]

_BLOCK = re.compile(r"(<!-- options: ([\w -]+?) -->\n)(.*?)(<!-- /options -->)", re.S)
_GROUPS = {"dtmem": dtmem, "dtmem-convert": dtmem_convert}


def command(name: str) -> tuple[click.Command, click.Context]:
    """The command called ``name`` (e.g. ``"dtmem train"``) and a context for its help."""
    group_name, _, sub = name.partition(" ")
    group = _GROUPS[group_name]
    parent = click.Context(group, info_name=group_name)
    found = group.get_command(parent, sub)
    if found is None:
        raise KeyError(f"no command {name!r}")
    return found, click.Context(found, info_name=sub, parent=parent)


def options_table(name: str) -> str:
    """A markdown table of the options of command ``name``, as its ``--help`` shows them."""
    found, ctx = command(name)
    lines = ["| option | meaning |", "|---|---|"]
    for param in found.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None or "--help" in record[0]:
            continue
        flags, help_text = record
        cell = " ".join(help_text.split()).replace("|", "\\|").replace("<", "&lt;")
        lines.append(f"| `{flags.replace('|', '/')}` | {cell} |")
    return "\n".join(lines) + "\n"


def render(text: str) -> str:
    """``text`` with every options block regenerated."""
    return _BLOCK.sub(lambda m: m.group(1) + options_table(m.group(2)) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path, check = Path(args[0]), "--check" in args
    text = path.read_text()
    rendered = render(text)
    if check:
        if rendered != text:
            print(
                f"{path}: option tables are stale; run python -m d3rlpy_dtmem.app.cli_docs {path}"
            )
            return 1
        return 0
    path.write_text(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
