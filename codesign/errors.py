"""The one base of every expected failure: bad input, a missing tool, a design that does not fit.

Each stage raises a subclass naming the file, the field and the fix; the command line turns a
:class:`CodesignError` into a one-paragraph message and exit status 1, and lets anything else
(a bug) show its traceback (codesign/command.py).
"""

from __future__ import annotations

__all__ = ["CodesignError"]


class CodesignError(Exception):
    """An expected failure with a message for the user (file, field, fix)."""
