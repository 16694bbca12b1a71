"""Discovery and invocation of external tools (Icarus Verilog, Yosys, Verilator, ...).

Every external program codesign runs is located and launched through this module,
so lookup rules, user overrides and error messages are the same everywhere.

A tool ``name`` is looked up in the environment variable ``CODESIGN_<NAME>``
(upper-cased, ``-`` replaced by ``_``; e.g. ``CODESIGN_IVERILOG_VPI``) and then on
``PATH``. The override may be a path or a command name to search on ``PATH``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence

from codesign.errors import CodesignError

__all__ = [
    "ToolError",
    "ToolNotFound",
    "tool_env_var",
    "find_tool",
    "has_tool",
    "run_tool",
    "find_myhdl_vpi",
    "myhdl_cosim_command",
]

SETUP_HINT = "run `bash scripts/setup.sh`"
MYHDL_VPI_ENV = "CODESIGN_MYHDL_VPI"
_OUTPUT_TAIL_LINES = 60

_DEBIAN = "debian"
_OTHER = "other"
_PACKAGES = {
    "iverilog": (_DEBIAN, "iverilog"),
    "vvp": (_DEBIAN, "iverilog"),
    "iverilog-vpi": (_DEBIAN, "iverilog"),
    "yosys": (_DEBIAN, "yosys"),
    "verilator": (_DEBIAN, "verilator"),
    "cc": (_DEBIAN, "gcc"),
    "vivado": (_OTHER, "Xilinx Vivado (not a Debian package)"),
    "fusesoc": (_OTHER, "pip install fusesoc"),
}


class ToolError(CodesignError, RuntimeError):
    """An external tool could not be run or reported failure.

    ``cmd``, ``returncode``, ``stdout`` and ``stderr`` hold the details when known.
    """

    def __init__(
        self,
        message: str,
        *,
        cmd: Sequence[str] | None = None,
        returncode: int | None = None,
        stdout: str = "",
        stderr: str = "",
    ) -> None:
        super().__init__(message)
        self.cmd = list(cmd) if cmd is not None else None
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


class ToolNotFound(ToolError):
    """An external tool (or the MyHDL VPI module) is not installed or not found."""


def tool_env_var(name: str) -> str:
    """Return the environment variable that overrides the location of tool ``name``."""
    return "CODESIGN_" + name.upper().replace("-", "_")


def _install_hint(name: str) -> str:
    kind, what = _PACKAGES.get(name, (None, None))
    if kind == _DEBIAN:
        return f"install the Debian package '{what}' (apt-get install {what})"
    if kind == _OTHER:
        return f"install {what}"
    return f"install {name!r}"


def find_tool(name: str) -> str:
    """Return the absolute path of the executable for tool ``name``.

    ``CODESIGN_<NAME>`` wins over ``PATH``; a set but unusable override is an
    error rather than silently falling back to ``PATH``.
    """
    var = tool_env_var(name)
    override = os.environ.get(var)
    if override:
        found = shutil.which(override)
        if found is None:
            raise ToolNotFound(
                f"{var}={override!r} does not name an executable file "
                f"(it overrides the location of {name!r}); fix or unset {var}"
            )
        return os.path.abspath(found)
    found = shutil.which(name)
    if found is None:
        raise ToolNotFound(
            f"tool {name!r} not found on PATH and {var} is not set: "
            f"{_install_hint(name)}, {SETUP_HINT}, "
            f"or set {var} to the path of the executable"
        )
    return os.path.abspath(found)


def has_tool(name: str) -> bool:
    """Return whether :func:`find_tool` would find tool ``name``."""
    try:
        find_tool(name)
    except ToolNotFound:
        return False
    return True


def _tail(text: str | bytes | None, lines: int = _OUTPUT_TAIL_LINES) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    kept = text.rstrip("\n").splitlines()
    if len(kept) > lines:
        kept = [f"[... {len(kept) - lines} earlier lines omitted ...]"] + kept[-lines:]
    return "\n".join(kept)


def _describe_output(stdout: str | bytes | None, stderr: str | bytes | None) -> str:
    parts = []
    for label, text in (("stderr", stderr), ("stdout", stdout)):
        tail = _tail(text)
        if tail:
            parts.append(f"--- {label} ---\n{tail}")
    return "\n" + "\n".join(parts) if parts else " (no output)"


def _describe_returncode(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def run_tool(
    name: str,
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    program: str | os.PathLike[str] | None = None,
    poll: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run tool ``name`` with ``args`` and return the completed process.

    Output is captured as text (stdout and stderr separately); standard input is
    closed so a tool can never wait for a keypress. ``env`` adds to (does not
    replace) the current environment. ``program`` runs an executable built by
    another tool (a Verilator model) under the label ``name``; ``poll`` is called
    about twice a second while the tool runs (progress reporting). A non-zero exit
    status, a timeout or a failure to start raises :class:`ToolError` carrying the
    command line, the exit status and the last lines of the tool's own output.
    """
    if isinstance(args, (str, bytes)):
        raise TypeError("run_tool() args must be a sequence of arguments, not a string")
    cmd = [
        os.fspath(program) if program is not None else find_tool(name),
        *(os.fspath(a) for a in args),
    ]
    cmdline = shlex.join(cmd)
    full_env = None
    if env is not None:
        full_env = {**os.environ, **env}
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except OSError as exc:
        raise ToolError(f"`{cmdline}` could not be started: {exc}", cmd=cmd) from exc
    with proc:
        while True:
            step = 0.5 if poll is not None else None
            if deadline is not None:
                left = max(deadline - time.monotonic(), 0.0)
                step = left if step is None else min(step, left)
            try:
                stdout, stderr = proc.communicate(timeout=step)
                break
            except subprocess.TimeoutExpired:
                if deadline is not None and time.monotonic() >= deadline:
                    proc.kill()
                    stdout, stderr = proc.communicate()
                    raise ToolError(
                        f"`{cmdline}` timed out after {timeout} s and was killed"
                        + _describe_output(stdout, stderr),
                        cmd=cmd,
                    ) from None
                if poll is not None:
                    poll()
    if proc.returncode != 0:
        where = f" (in {os.fspath(cwd)})" if cwd is not None else ""
        raise ToolError(
            f"`{cmdline}`{where} {_describe_returncode(proc.returncode)}"
            + _describe_output(stdout, stderr),
            cmd=cmd,
            returncode=proc.returncode,
            stdout=stdout,
            stderr=stderr,
        )
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def find_myhdl_vpi() -> str:
    """Return the path of the MyHDL VPI module used by ``vvp -m`` for co-simulation.

    ``CODESIGN_MYHDL_VPI`` overrides the default ``<sys.prefix>/share/codesign/myhdl.vpi``
    that ``scripts/setup.sh`` builds from the C sources shipped with MyHDL.
    """
    override = os.environ.get(MYHDL_VPI_ENV)
    if override:
        if not os.path.isfile(override):
            raise ToolNotFound(
                f"{MYHDL_VPI_ENV}={override!r} is not an existing file; "
                f"fix or unset {MYHDL_VPI_ENV}"
            )
        return os.path.abspath(override)
    default = os.path.join(sys.prefix, "share", "codesign", "myhdl.vpi")
    if os.path.isfile(default):
        return default
    raise ToolNotFound(
        f"MyHDL VPI module not found at {default}: {SETUP_HINT} to build it, "
        f"or set {MYHDL_VPI_ENV} to an existing myhdl.vpi"
    )


def myhdl_cosim_command(vvp_file: str | os.PathLike[str], cwd: str | os.PathLike[str]) -> list:
    """The command for MyHDL's ``Cosimulation`` of a compiled Icarus design, run in ``cwd``
    (where the design's ``$readmemh`` files are found; ``Cosimulation`` has no ``cwd``)."""
    return [
        "/bin/sh",
        "-c",
        'cd "$0" && exec "$1" -n -m "$2" "$3"',
        os.fspath(cwd),
        find_tool("vvp"),
        find_myhdl_vpi(),
        os.path.abspath(os.fspath(vvp_file)),
    ]
