"""Multi-value command-line options, in one style for every command.

An option that takes several values takes them any of these ways, in every command
(``dtmem`` and ``dtmem-convert``)::

    --games Pong Breakout        --games Pong,Breakout
    --games "Pong Breakout"      --games Pong --games Breakout

A command built with ``cls=MultiValueCommand`` spreads ``--games Pong Breakout`` into
repeated options before click parses them; the command then reads the values through
:func:`split_values` (or :func:`int_values`), which also splits on spaces and commas.
"""

import re
from collections.abc import Iterable
from typing import Any

import click

__all__ = [
    "MultiValueCommand",
    "file_option",
    "folder_option",
    "int_values",
    "optional_count",
    "split_values",
    "switch",
    "with_default",
]

_SEPARATORS = re.compile(r"[\s,]+")


def split_values(values: Iterable[Any]) -> list[str]:
    """The values of a repeatable option, each also split on spaces and commas."""
    return [part for value in values for part in _SEPARATORS.split(str(value)) if part]


def int_values(ctx: click.Context, param: click.Parameter, values: Iterable[Any]) -> tuple:
    """A click callback: :func:`split_values`, as integers (a usage error names a bad one)."""
    parts = split_values(values)
    for part in parts:
        if not part.lstrip("-").isdigit():
            raise click.BadParameter(f"{part!r} is not an integer", ctx=ctx, param=param)
    return tuple(int(part) for part in parts)


def _spread(args: list[str], names: set[str]) -> list[str]:
    """``--games A B`` -> ``--games A --games B`` for the options in ``names``."""
    spread: list[str] = []
    current = None
    for index, arg in enumerate(args):
        if arg == "--":
            return spread + args[index:]
        if arg.startswith("-") and not _is_number(arg):
            name = arg.split("=", 1)[0]
            current = name if name in names else None
        elif current is not None and spread[-1] != current:
            spread.append(current)
        spread.append(arg)
    return spread


def _is_number(arg: str) -> bool:
    try:
        float(arg)
    except ValueError:
        return False
    return True


class MultiValueCommand(click.Command):
    """A click command whose ``multiple`` options also take several values after the flag.

    A command with positional arguments takes them before the first such option (values
    after a multi-value option belong to it, up to the next option).
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        names = {
            opt
            for param in self.params
            if isinstance(param, click.Option) and param.multiple
            for opt in param.opts
        }
        return super().parse_args(ctx, _spread(args, names))


def switch(flags: str, default: bool, help: str) -> Any:
    """An on/off option such as ``--tensorboard/--no-tensorboard``, its default shown."""
    return click.option(flags, default=default, show_default=True, help=help)


def optional_count(flag: str, help: str) -> Any:
    """A positive integer option that may be left out (``None``)."""
    return click.option(flag, type=click.IntRange(min=1), default=None, help=help)


def folder_option(
    flag: str, help: str, *, required: bool = False, default: str | None = None
) -> Any:
    """A folder path option (``file_okay=False``)."""
    return click.option(
        flag,
        required=required,
        default=default,
        show_default=default is not None,
        type=click.Path(file_okay=False),
        help=help,
    )


def file_option(flag: str, help: str, *, required: bool = False) -> Any:
    """A file path option (``dir_okay=False``)."""
    return click.option(
        flag, required=required, default=None, type=click.Path(dir_okay=False), help=help
    )


def with_default(flag: str, default: Any, help: str, type: Any = None) -> Any:  # noqa: A002
    """An option with a default, shown in ``--help`` (``type``: a click type, e.g. a range)."""
    return click.option(flag, default=default, show_default=True, type=type, help=help)
