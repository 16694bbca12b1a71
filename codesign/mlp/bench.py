"""The generated trainer's Verilog test bench: its source, the stream it plays, one run of it.

The bench (``codesign_mlp_bench.v``, written by ``codesign mlp generate``) plays the beats of
``stream.hex`` into ``s_axis`` and writes one line per event to ``events.txt``::

    I <edge> <beat>                    a packet's first beat (tuser ≠ 0) taken by s_axis
    O <edge> <tdata> <tuser> <tlast>   a beat leaving m_axis (tuser 0: a prediction, 1: a word)
    R <edge> <beat>                    reset injected (aresetn low for two edges); the rest of
                                       the interrupted packet is skipped, play resumes at
                                       ``beat``
    E <edge> <frame_error>             every expected output beat seen
    T <edge>                           time-out

Each line of ``stream.hex`` is one beat: ``{tlast, tuser[15:0], tdata}`` as one hex word.
Plusargs: ``+beats=N`` (lines to play), ``+outputs=N`` (beats to wait for), ``+gap_in=P`` /
``+gap_out=P`` (percent of clocks with ``tvalid`` / ``tready`` low, seeded xorshift,
``+seed=S``), ``+reset_at=E``, ``+timeout=E``, ``+vcd``.  The same source runs in Verilator
(``--binary --timing``) and Icarus.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codesign.eda.bench import events, icarus_binary, link_memories, verilator_binary
from codesign.eda.bench import plusargs as bench_plusargs
from codesign.eda.tools import run_tool
from codesign.mlp.hdl.trainer import CONFIG_BITS, MODES, SCHEDULES, TUSER_BITS

__all__ = [
    "BENCH_TOP",
    "MAX_BEATS",
    "bench_source",
    "Stream",
    "run_bench",
    "events",
    "verilator_model",
]

BENCH_TOP = "codesign_mlp_bench"
MAX_BEATS = 1 << 18  # a run: one epoch of the bundled 4,000 images at 25 beats each, and more

_BENCH = """`timescale 1ns/1ps
// Test bench of the codesign trainer `{top}` (Icarus and Verilator --binary --timing).
// Beats from stream.hex ({{tlast, tuser, tdata}}), events to events.txt; see codesign/mlp/bench.py.
module {bench};
  localparam DATA = {data_bits};
  localparam WORD = DATA + {tuser_bits} + 1;
  localparam MAX_BEATS = {max_beats};
  reg aclk = 0;
  reg aresetn = 0;
  reg [DATA-1:0] s_axis_tdata = 0;
  reg [{tuser_msb}:0] s_axis_tuser = 0;
  reg s_axis_tvalid = 0;
  reg s_axis_tlast = 0;
  reg m_axis_tready = 0;
  wire s_axis_tready, m_axis_tvalid, m_axis_tlast, m_axis_tuser, frame_error;
  wire [15:0] m_axis_tdata;
  reg [WORD-1:0] stream [0:MAX_BEATS-1];
  integer beats, outputs, gap_in, gap_out, reset_at, timeout, seed, fd;
  integer edges = 0, next = 0, seen = 0, hold = 0;
  reg [31:0] rng;

  {top} dut(.aclk(aclk), .aresetn(aresetn),
    .s_axis_tdata(s_axis_tdata), .s_axis_tuser(s_axis_tuser), .s_axis_tvalid(s_axis_tvalid),
    .s_axis_tready(s_axis_tready), .s_axis_tlast(s_axis_tlast),
    .m_axis_tdata(m_axis_tdata), .m_axis_tuser(m_axis_tuser), .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready), .m_axis_tlast(m_axis_tlast), .frame_error(frame_error));

  always #5 aclk = ~aclk;

  function [31:0] xorshift(input [31:0] x);
    reg [31:0] y;
    begin
      y = x ^ (x << 13);
      y = y ^ (y >> 17);
      xorshift = y ^ (y << 5);
    end
  endfunction

  initial begin
    if (!$value$plusargs("beats=%d", beats)) beats = 0;
    if (!$value$plusargs("outputs=%d", outputs)) outputs = 0;
    if (!$value$plusargs("gap_in=%d", gap_in)) gap_in = 0;
    if (!$value$plusargs("gap_out=%d", gap_out)) gap_out = 0;
    if (!$value$plusargs("reset_at=%d", reset_at)) reset_at = -1;
    if (!$value$plusargs("timeout=%d", timeout)) timeout = 0;
    if (!$value$plusargs("seed=%d", seed)) seed = 1;
    rng = 32'h2545F491 ^ seed;
    if (rng == 0) rng = 1;
    if (beats > 0) $readmemh("stream.hex", stream, 0, beats - 1);
    fd = $fopen("events.txt", "w");
    if ($test$plusargs("vcd")) begin
      $dumpfile("wave.vcd");
      $dumpvars(0, {bench});
    end
  end

  always @(posedge aclk) begin
    edges = edges + 1;
    if (m_axis_tvalid && m_axis_tready) begin
      $fwrite(fd, "O %0d %0d %0d %0d\\n", edges, m_axis_tdata, m_axis_tuser, m_axis_tlast);
      seen = seen + 1;
    end
    if (s_axis_tvalid && s_axis_tready) begin
      if (s_axis_tuser != 0) $fwrite(fd, "I %0d %0d\\n", edges, next);
      next = next + 1;
    end
    if (seen == outputs && next == beats) begin
      $fwrite(fd, "E %0d %0d\\n", edges, frame_error);
      $fclose(fd);
      $finish;
    end
    if (timeout > 0 && edges >= timeout) begin
      $fwrite(fd, "T %0d\\n", edges);
      $fclose(fd);
      $finish;
    end
    rng = xorshift(rng);
    if (edges == reset_at) begin
      while (next < beats && !stream[next][WORD-1]) next = next + 1;
      next = next + 1;
      $fwrite(fd, "R %0d %0d\\n", edges, next);
      hold = 2;
    end
    if (hold > 0) begin
      hold = hold - 1;
      aresetn <= 0;
      s_axis_tvalid <= 0;
      m_axis_tready <= 0;
    end else begin
      aresetn <= 1;
      if (!(s_axis_tvalid && !s_axis_tready)) begin
        s_axis_tvalid <= next < beats && rng % 100 >= gap_in;
        {{s_axis_tlast, s_axis_tuser, s_axis_tdata}} <= stream[next];
      end
      m_axis_tready <= (rng >> 8) % 100 >= gap_out;
    end
  end
endmodule
"""


def bench_source(top: str, per_beat: int) -> str:
    return _BENCH.format(
        top=top,
        bench=BENCH_TOP,
        data_bits=8 * per_beat,
        tuser_bits=TUSER_BITS,
        tuser_msb=TUSER_BITS - 1,
        max_beats=MAX_BEATS,
    )


class Stream:
    """The beats of a run: words to load, inputs to train or infer on, flushes and dumps."""

    def __init__(self, per_beat: int, pixels: int):
        self.per_beat, self.pixels = per_beat, pixels
        self.beats: list[tuple[int, int, int]] = []  # (tlast, tuser, tdata)
        self.predictions = 0  # prediction beats the run will return
        self.dumps: list[int] = []  # words per dump

    def _pack(self, values, bits: int) -> int:
        v = 0
        for i, a in enumerate(values):
            v |= (int(a) & ((1 << bits) - 1)) << (bits * i)
        return v

    def load(self, words: np.ndarray) -> None:
        """A load command and the words (16-bit two's complement, ``per_beat / 2`` a beat)."""
        self.beats.append((0, MODES["load"], 0))
        wpb = self.per_beat // 2
        chunks = [words[i : i + wpb] for i in range(0, len(words), wpb)]
        for i, chunk in enumerate(chunks):
            self.beats.append((int(i == len(chunks) - 1), 0, self._pack(chunk, 16)))

    def inputs(self, images: np.ndarray, labels, k: int, train: bool = True) -> None:
        mode = MODES["train" if train else "infer"]
        flat = np.asarray(images, np.uint8).reshape(len(images), -1)
        n = -(-self.pixels // self.per_beat)
        for img, label in zip(flat, labels):
            user = mode | int(label) << 4 | int(k) << 8
            for b in range(n):
                px = img[b * self.per_beat : (b + 1) * self.per_beat]
                self.beats.append((int(b == n - 1), user if b == 0 else 0, self._pack(px, 8)))
        self.predictions += len(flat)

    def config(self, schedule: str, threshold: int = 0) -> None:
        """A config command: the schedule (by name) and the speculative threshold (summed
        output LSBs)."""
        if not 0 <= threshold < 1 << 16:
            raise ValueError(f"threshold {threshold}: the config word holds 0 … 65535")
        data = (
            threshold << CONFIG_BITS["threshold"][1]
            | SCHEDULES[schedule] << CONFIG_BITS["schedule"][1]
        )
        self.beats.append((1, MODES["config"], data))

    def flush(self) -> None:
        self.beats.append((1, MODES["flush"], 0))

    def dump(self, words: int) -> None:
        self.beats.append((1, MODES["dump"], 0))
        self.dumps.append(words)

    @property
    def outputs(self) -> int:
        return self.predictions + sum(self.dumps)

    def write(self, path: Path) -> None:
        digits = (8 * self.per_beat + TUSER_BITS + 1 + 3) // 4
        shift = 8 * self.per_beat
        with open(path, "w") as f:
            for last, user, data in self.beats:
                f.write(f"{(last << (shift + TUSER_BITS)) | (user << shift) | data:0{digits}x}\n")


def run_bench(rtl: Path, man: dict, stream: Stream, work: Path, exe: Path | None, plusargs):
    """One run of the bench in ``work`` (created): Verilator model ``exe``, or Icarus when
    None.  Returns the events, one split line each."""
    if len(stream.beats) > MAX_BEATS:
        raise ValueError(f"{len(stream.beats)} beats: the bench holds at most {MAX_BEATS}")
    work.mkdir(parents=True)
    link_memories(rtl, work)
    stream.write(work / "stream.hex")
    args = [f"+beats={len(stream.beats)}", f"+outputs={stream.outputs}"]
    args += bench_plusargs(plusargs)
    if exe is not None:
        run_tool("verilator", args, cwd=work, program=exe, timeout=7200)
    else:
        prog = icarus_binary(_sources(rtl, man), BENCH_TOP, work / "bench.vvp")
        run_tool("vvp", ["-n", prog, *args], cwd=work, timeout=7200)
    return events(work / "events.txt")


def _sources(rtl: Path, man: dict) -> list[Path]:
    return [rtl / f for f in man["files"]] + [rtl / man["testbench"]["file"]]


def verilator_model(rtl: Path, man: dict) -> Path:
    return verilator_binary(_sources(rtl, man), BENCH_TOP)
