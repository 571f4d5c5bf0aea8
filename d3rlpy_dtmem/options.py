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

__all__ = ["MultiValueCommand", "int_values", "split_values"]

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
