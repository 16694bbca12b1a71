"""What every system's commands share: the error rule and the common options.

Exit status: 0 success; 1 an expected failure, a :class:`codesign.errors.CodesignError` (bad
input, a missing tool, a design that does not fit, RTL that disagrees with its model), printed as
one paragraph naming the file, the field and the fix; 2 a usage error (an unknown or malformed
flag, from click).  Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
from pathlib import Path

import click

from codesign.errors import CodesignError

__all__ = ["friendly", "rtl_option", "board_option", "DEFAULT_BUILD", "DEFAULT_RTL"]

DEFAULT_BUILD = Path("build")
DEFAULT_RTL = Path("rtl_out") / "accel"


def friendly(fn):
    """Run ``fn``; a :class:`CodesignError` exits with its message and status 1."""

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except CodesignError as e:
            raise click.ClickException(str(e)) from None

    return wrapper


def rtl_option(fn):
    return click.option(
        "--rtl",
        "rtl_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_RTL,
        show_default=True,
        help="directory from `codesign generate`",
    )(fn)


def board_option(fn):
    return click.option(
        "--board",
        "board_name",
        default="nexys4ddr",
        show_default=True,
        help="board name (see `codesign boards`) or a path to a board .toml",
    )(fn)
