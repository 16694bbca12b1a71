"""Deterministic conversion of a MyHDL design to Verilog, with its ROM contents beside it.

Equal designs must give equal bytes, whatever else the process elaborated before, whenever it
runs and whatever its hash seed: :func:`fresh_names` resets MyHDL's process-wide instance-name
counters before an elaboration and makes MyHDL list a generator's signals in name order (it
keeps them in sets of names, whose order follows ``PYTHONHASHSEED``: the order of reset
assignments and sensitivity lists in the Verilog did too); :func:`convert` drops the file-path
and date lines of MyHDL's header and writes every :func:`codesign.hdl.rom.rom`'s contents to
``mem/rom_<hash>.hex``; with ``initial_values`` it gives every register of the Verilog its
reset-state value as a simulation-only initialiser (:func:`reset_state`).
"""

from __future__ import annotations

import inspect
import re
import warnings
from contextlib import ExitStack, contextmanager
from copy import deepcopy
from pathlib import Path

from myhdl._Signal import _Signal

from codesign.hdl.rom import write_images

__all__ = ["fresh_names", "normalise", "reset_state", "initialise", "convert", "INIT_MACRO"]


class _NameOrderedSet(set):
    """A set of signal names that iterates in name order (so does the Verilog written from it)."""

    def __iter__(self):
        return iter(sorted(set.__iter__(self)))


def _name_ordered_visitor():
    """MyHDL's signal-name visitor with name-ordered sets (MyHDL has no option for this)."""
    import myhdl._instance as mi

    base = mi._SigNameVisitor
    if getattr(base, "name_ordered", False):
        return
    ordered = type(
        "NameOrderedSigNameVisitor",
        (base,),
        {
            "name_ordered": True,
            "__init__": lambda self, symdict: (
                base.__init__(self, symdict),
                setattr(self, "inputs", _NameOrderedSet()),
                setattr(self, "outputs", _NameOrderedSet()),
                setattr(self, "inouts", _NameOrderedSet()),
            )[0],
        },
    )
    mi._SigNameVisitor = ordered


def fresh_names() -> None:
    """Make the next elaboration give the same Verilog in any process: reset MyHDL's
    process-wide block-name counters (module globals with no public reset), so instance names
    do not depend on what was elaborated before, and order each generator's signals by name."""
    import myhdl._block as mb
    import myhdl._simulator as ms

    _name_ordered_visitor()
    mb._name_set.clear()
    mb._inst_name_set.clear()
    for b in ms._blocks:
        b.calls = 0


def normalise(text: str) -> str:
    """Drop MyHDL's file-path and date header lines so equal designs give equal bytes."""
    return re.sub(r"^// (File|Date):.*\n", "", text, flags=re.M)


def _design_signals(inst) -> tuple[list, set]:
    """Every signal of the block tree under ``inst`` (ports included) and the ids of the
    memories' elements (declared as Verilog arrays, never initialised here)."""
    seen: dict = {}
    mem_ids: set = set()

    def walk(b):
        for s in b.sigdict.values():
            seen.setdefault(id(s), s)
        for m in b.memdict.values():
            for s in getattr(m, "mem", m):
                mem_ids.add(id(s))
        for sub in b.subs:
            if hasattr(sub, "memdict"):  # a block (generators have no memdict)
                walk(sub)

    walk(inst)
    for s in _port_signals(inst).values():
        seen.setdefault(id(s), s)
    return [s for k, s in seen.items() if k not in mem_ids], mem_ids


def reset_state(inst) -> dict:
    """``{id(signal): value}``: the state of the elaborated design ``inst`` at time 0 — every
    register at its initial (reset) value, every combinational signal at the value its logic
    gives from there and from the inputs' initial values (``aresetn`` low, ``valid`` low …).

    MyHDL's simulator computes it (its ``always_comb`` blocks run once at time 0; no clock edge
    happens), so the combinational values are consistent with the registers' — which MyHDL's own
    ``initial_values`` conversion is not: it gives a combinational ``reg`` its signal's
    constructor value, and Icarus ``-g2012`` (cocotb's default) never re-evaluates an ``always
    @(...)`` block whose inputs start at their reset values, so e.g. the overlap-add memories'
    write enables stayed 0 after reset and the scores came out wrong.  The simulation's end
    resets every signal of the process (MyHDL's ``Simulation.quit``, which also forgets their
    ``driven``/``read`` marks): those are restored, so converting ``inst`` afterwards gives the
    same Verilog as before."""
    import myhdl._simulator as msim
    from myhdl import Simulation, delay, intbv

    signals, _ = _design_signals(inst)
    marks = [(s, s._driven, s._read, s._name, s._inList) for s in msim._signals]

    def tick():  # a future event, so that run(1) stops at time 1 instead of finishing
        yield delay(2)

    sim = Simulation(inst, tick())
    try:
        sim.run(1, quiet=1)
        state = {id(s): s._val for s in signals if isinstance(s._val, (bool, int, intbv))}
        state = {k: (bool(v) if isinstance(v, bool) else int(v)) for k, v in state.items()}
    finally:
        sim.quit()
        for s, driven, read, name, in_list in marks:
            s._driven, s._read, s._name, s._inList = driven, read, name, in_list
    return state


INIT_MACRO = "CODESIGN_INIT"

_INIT_HEADER = f"""`ifdef {INIT_MACRO}
`undef {INIT_MACRO}
`endif
`ifdef SYNTHESIS
`define {INIT_MACRO}(value)
`else
`define {INIT_MACRO}(value) = value
`endif
"""

_INITIALISED = re.compile(r"^(reg [^=;]*) = (.+);$", re.M)
_REG = re.compile(r"^(reg (?:signed )?(?:\[[^\]]*\] )?)(\w+);$", re.M)
_MEMORY_INIT = re.compile(r"^initial begin.*?^end$", re.M | re.S)


def _literal(sig, value: int) -> str:
    """A sized Verilog literal of ``value`` for ``sig`` (plain decimals are 32 bits)."""
    width = len(sig) or 1
    value = int(value)
    return f"-{width}'d{-value}" if value < 0 else f"{width}'d{value}"


def initialise(text: str, ports: dict) -> str:
    """MyHDL's Verilog ``text`` converted with ``initial_values``: each ``reg NAME = value;`` made
    ``reg NAME `CODESIGN_INIT(value);`` and each output port ``reg NAME;`` named in ``ports``
    (name → Verilog literal: MyHDL gives ports none) likewise, memory ``initial`` blocks put
    under ```ifndef SYNTHESIS``.  ``CODESIGN_INIT(value)`` is ``= value`` in simulators and
    nothing where ``SYNTHESIS`` is defined (yosys, Vivado): the synthesised netlist is the one
    without initial values."""
    body = _INITIALISED.sub(lambda m: f"{m.group(1)} `{INIT_MACRO}({m.group(2)});", text)
    body = _REG.sub(
        lambda m: (
            f"{m.group(1)}{m.group(2)} `{INIT_MACRO}({ports[m.group(2)]});"
            if m.group(2) in ports
            else m.group(0)
        ),
        body,
    )
    body = _MEMORY_INIT.sub(lambda m: f"`ifndef SYNTHESIS\n{m.group(0)}\n`endif", body)
    head, sep, rest = body.partition("`timescale")
    if not sep:
        return _INIT_HEADER + body + f"`undef {INIT_MACRO}\n"
    line, nl, rest = rest.partition("\n")
    return head + sep + line + nl + "\n" + _INIT_HEADER + rest + f"`undef {INIT_MACRO}\n"


def _port_signals(inst) -> dict:
    bound = inspect.signature(inst.func).bind(*inst.args, **inst.kwargs).arguments
    return {n: s for n, s in bound.items() if isinstance(s, _Signal)}


@contextmanager
def _initial_values(inst):
    """While converting: each signal's initial value (what MyHDL's ``initial_values`` writes)
    set to its :func:`reset_state` value — differs only for combinational signals — then put
    back, values included (MyHDL's clean-up after converting resets a signal to its initial
    value).  Yields the output ports' literals (name → Verilog literal)."""
    state = reset_state(inst)
    signals, _ = _design_signals(inst)
    changed = []
    for s in signals:
        v = state.get(id(s))  # None: not a number (enum, tristate): MyHDL's own value
        if v is None or v == s._init:
            continue
        changed.append((s, s._init))
        if isinstance(s._init, bool):
            s._init = bool(v)
        else:
            new = deepcopy(s._init)
            new._val = v
            s._init = new
    ports = {n: _literal(s, state[id(s)]) for n, s in _port_signals(inst).items() if id(s) in state}
    try:
        yield ports
    finally:
        for s, init in changed:
            s._init = init
            s._val, s._next = deepcopy(init), deepcopy(init)


def convert(
    inst,
    path: str | Path,
    name: str,
    *,
    quiet: bool = False,
    initial_values: bool = False,
    **kw,
) -> list[str]:
    """``inst.convert(hdl="Verilog", path=path, name=name, **kw)``, headers normalised, then each
    ROM's contents to ``path/mem/rom_<hash>.hex``; ``quiet`` silences MyHDL's conversion
    warnings.  ``initial_values``: every register and combinational ``reg`` of ``name.v``, output
    ports included, starts at its :func:`reset_state` value, so the design is in its reset state
    and every output defined from time 0 in any simulator; for simulation only (:func:`initialise`),
    memories stay undefined until written.  Returns the memory files written, relative to
    ``path``, sorted."""
    path = Path(path)
    with ExitStack() as stack:
        ports = None
        if initial_values:
            ports = stack.enter_context(_initial_values(inst))
            kw = {**kw, "initial_values": "skip_zero_mem_init"}
        else:  # MyHDL keeps the option from an earlier conversion: always state it
            kw = {**kw, "initial_values": False}
        with warnings.catch_warnings():
            if quiet:
                warnings.simplefilter("ignore")
            inst.convert(hdl="Verilog", path=str(path), name=name, **kw)
    for f in (path / f"{name}.v", path / f"tb_{name}.v"):
        if f.is_file():
            text = normalise(f.read_text())
            if ports is not None and f.name == f"{name}.v":
                text = initialise(text, ports)
            f.write_text(text)
    return write_images(inst, path)
