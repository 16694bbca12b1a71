"""The trainer's cycle model: the clock budget its generated RTL keeps (docs/mlp-fixed-point.md).

Every junction streams its ``edges / z`` slots once per *block cycle*, ``z`` per clock; the
block cycle adds :data:`PIPELINE_FILL` clocks for the memories' registered read (1), the
registered multiplier inputs (1) and the processors' two pipeline stages (``PROCTIME`` = 2 in
the reference RTL).  Junctions with fewer slots idle for the rest of the block cycle.  A new
input enters every block cycle; input ``t``'s last update ends in block cycle ``t + 2J``
(:class:`~codesign.mlp.train.Schedule`), and a flush at an epoch's end runs ``2J`` block cycles
without inputs.  Narrower input beats than ``n₀ / C`` pixels make the loader the bottleneck
(:func:`clocks_per_input`).

The speculating trainer (docs/mlp-trainer.md, speculation) runs one input at a time: an input
enters ``J`` block cycles after the previous one when that one hit (its update ran beside its
forward pass), ``2J`` after a miss, a label's first input or every input of the sequential
schedule (the update follows the forward pass); inference inputs are ``J`` apart
(:func:`speculative_clocks`).  The pipelined trainer's sequential schedule holds the loader
until a training input's last update runs, ``2J − 1`` block cycles, then loads the next
(:func:`sequential_clocks`).
"""

from __future__ import annotations

from codesign.mlp.connectivity import Junction

__all__ = [
    "PIPELINE_FILL",
    "block_cycle",
    "clocks_per_input",
    "training_clocks",
    "input_latency",
    "speculative_clocks",
    "sequential_clocks",
]

PIPELINE_FILL = 4  # 2 + PROCTIME: the reference's 36 = 32 + 2 + 2


def block_cycle(junctions: tuple[Junction, ...]) -> int:
    """Clocks per input: the busiest junction's slots / z, plus the pipeline fill."""
    return max(j.clocks for j in junctions) + PIPELINE_FILL


def clocks_per_input(junctions: tuple[Junction, ...], per_beat: int | None = None) -> int:
    """Clocks between inputs of a steady stream: the block cycle, or, when the loader needs
    longer to write the first layer at ``per_beat`` inputs per clock (``n₀ / per_beat``
    clocks), that plus the clock the block cycle takes to advance."""
    block = block_cycle(junctions)
    if per_beat is None:
        return block
    return max(block, junctions[0].n_left // per_beat + 1)


def input_latency(junctions: tuple[Junction, ...]) -> int:
    """Clocks from an input's entry to the end of its last update (``2J + 1`` block cycles)."""
    return (2 * len(junctions) + 1) * block_cycle(junctions)


def training_clocks(junctions: tuple[Junction, ...], inputs: int, epochs: int = 1) -> int:
    """Clocks to train ``epochs`` epochs of ``inputs`` inputs, each epoch flushed."""
    return epochs * (inputs + 2 * len(junctions)) * block_cycle(junctions)


def speculative_clocks(
    junctions: tuple[Junction, ...], hit: bool, per_beat: int | None = None
) -> int:
    """Clocks between the entries of one input and the next on the speculating trainer: ``J``
    block cycles after a hit (or an inference input), ``2J`` otherwise; at least the loader's
    clocks for the next input (``n₀ / per_beat``, plus the clock to advance)."""
    blocks = (1 if hit else 2) * len(junctions)
    clocks = blocks * block_cycle(junctions)
    if per_beat is None:
        return clocks
    return max(clocks, junctions[0].n_left // per_beat + 1)


def sequential_clocks(junctions: tuple[Junction, ...], per_beat: int | None = None) -> int:
    """Clocks between training inputs of the pipelined trainer's sequential schedule: ``2J − 1``
    block cycles of bubbles, then one of loading (:func:`clocks_per_input`)."""
    return (2 * len(junctions) - 1) * block_cycle(junctions) + clocks_per_input(junctions, per_beat)
