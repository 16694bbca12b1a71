"""The generated accelerator's Verilog test bench: its source and one run of it.

The converted Verilog runs under a plain Verilog test bench (``codesign_bench.v``, written by
``codesign generate``) that needs no per-clock Python, so the same bench runs in Verilator (the
fast path: a compiled model, about a million clocks per second) and in Icarus.  The bench reads
pixels from ``pixels.hex`` and writes one line per AXI4-Stream event to ``events.txt``::

    I <edge>                          first pixel of an image accepted
    O <edge> <tdata> <tlast> <tuser>  a score beat accepted (tdata as unsigned bits)
    R <edge>                          reset injected (aresetn low for the next two edges)
    E <edge> <frame_error>            every expected beat seen
    T <edge>                          time-out

Plusargs: ``+images=N``, ``+gap_in=P`` / ``+gap_out=P`` (percent of clocks with ``tvalid`` /
``tready`` low, from a seeded xorshift generator, ``+seed=S``), ``+reset_at=E``, ``+timeout=E``,
``+bad_tlast=K`` (flip ``tlast`` on beat K), ``+vcd``.  Edge 1 samples reset; edge 2 is the
first that can accept a pixel.  Several runs of one compiled bench may go in parallel, each on
its own slice of the images (each from reset, so each slice's clocks follow the cycle model).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codesign.eda.bench import events, icarus_binary, link_memories, verilator_binary
from codesign.eda.bench import plusargs as bench_plusargs
from codesign.eda.tools import run_tool
from codesign.spectral.fixedpoint import FixedPointConfig

__all__ = [
    "BENCH_TOP",
    "MAX_BENCH_IMAGES",
    "bench_source",
    "run_bench",
    "events",
    "verilator_model",
]


BENCH_TOP = "codesign_bench"


MAX_BENCH_IMAGES = 4096


_BENCH = """`timescale 1ns/1ps
// Test bench of the codesign accelerator `{top}` (Icarus and Verilator --binary --timing).
// Pixels from pixels.hex, AXI4-Stream events to events.txt; see codesign/cosim.py.
module {bench};
  localparam PIXELS = {pixels};
  localparam PER_BEAT = {per_beat};
  localparam BEATS = PIXELS / PER_BEAT;
  localparam CLASSES = {classes};
  localparam MAX_WORDS = PIXELS * {max_images};
  reg aclk = 0;
  reg aresetn = 0;
  reg [{tmsb}:0] s_axis_tdata = 0;
  reg [{tmsb}:0] beat;
  reg s_axis_tvalid = 0;
  reg s_axis_tlast = 0;
  reg m_axis_tready = 0;
  wire s_axis_tready, m_axis_tvalid, m_axis_tlast, frame_error;
  wire [{smsb}:0] m_axis_tdata;
  wire [{umsb}:0] m_axis_tuser;
  reg [{pmsb}:0] pixels [0:MAX_WORDS-1];
  integer images, gap_in, gap_out, reset_at, timeout, seed, bad_tlast, fd;
  integer edges = 0, next = 0, beats = 0, hold = 0, j;
  reg [31:0] rng;

  {top} dut(.aclk(aclk), .aresetn(aresetn),
    .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
    .s_axis_tlast(s_axis_tlast), .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready), .m_axis_tlast(m_axis_tlast), .m_axis_tuser(m_axis_tuser),
    .frame_error(frame_error));

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
    if (!$value$plusargs("images=%d", images)) images = 1;
    if (!$value$plusargs("gap_in=%d", gap_in)) gap_in = 0;
    if (!$value$plusargs("gap_out=%d", gap_out)) gap_out = 0;
    if (!$value$plusargs("reset_at=%d", reset_at)) reset_at = -1;
    if (!$value$plusargs("timeout=%d", timeout)) timeout = 0;
    if (!$value$plusargs("seed=%d", seed)) seed = 1;
    if (!$value$plusargs("bad_tlast=%d", bad_tlast)) bad_tlast = -1;
    rng = 32'h2545F491 ^ seed;
    if (rng == 0) rng = 1;
    $readmemh("pixels.hex", pixels, 0, images * PIXELS - 1);
    fd = $fopen("events.txt", "w");
    if ($test$plusargs("vcd")) begin
      $dumpfile("wave.vcd");
      $dumpvars(0, {bench});
    end
  end

  always @(posedge aclk) begin
    edges = edges + 1;
    if (m_axis_tvalid && m_axis_tready) begin
      $fwrite(fd, "O %0d %0d %0d %0d\\n", edges, m_axis_tdata, m_axis_tlast, m_axis_tuser);
      beats = beats + 1;
      if (m_axis_tlast) $fflush(fd);
    end
    if (s_axis_tvalid && s_axis_tready) begin
      if (next % BEATS == 0) $fwrite(fd, "I %0d\\n", edges);
      next = next + 1;
    end
    if (beats == images * CLASSES) begin
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
      $fwrite(fd, "R %0d\\n", edges);
      hold = 2;
      next = 0;
      beats = 0;
    end
    if (hold > 0) begin
      hold = hold - 1;
      aresetn <= 0;
      s_axis_tvalid <= 0;
      m_axis_tready <= 0;
    end else begin
      aresetn <= 1;
      if (!(s_axis_tvalid && !s_axis_tready)) begin
        s_axis_tvalid <= next < images * BEATS && rng % 100 >= gap_in;
        for (j = 0; j < PER_BEAT; j = j + 1)
          beat[j * {pbits} +: {pbits}] = pixels[next * PER_BEAT + j];
        s_axis_tdata <= beat;
        s_axis_tlast <= (next % BEATS == BEATS - 1) ^ (next == bad_tlast);
      end
      m_axis_tready <= (rng >> 8) % 100 >= gap_out;
    end
  end
endmodule
"""


def bench_source(
    top: str, pixels: int, classes: int, cfg: FixedPointConfig, per_beat: int = 1
) -> str:
    """The test bench Verilog for an accelerator with these port widths."""
    return _BENCH.format(
        top=top,
        bench=BENCH_TOP,
        pixels=pixels,
        classes=classes,
        max_images=MAX_BENCH_IMAGES,
        pmsb=cfg.input_bits - 1,
        per_beat=per_beat,
        pbits=cfg.input_bits,
        tmsb=cfg.input_bits * per_beat - 1,
        smsb=cfg.activation.bits - 1,
        umsb=max(classes - 1, 1).bit_length() - 1,
    )


def run_bench(
    rtl: Path,
    man: dict,
    images: np.ndarray,
    work: Path,
    exe: Path | None,
    plusargs: dict,
    poll=None,
) -> list[list[str]]:
    """One run of the test bench in ``work`` (created): Verilator model ``exe``, or Icarus when
    None; ``plusargs`` as in the module docstring (None/False values left out).  Returns the
    events, one split line each."""
    work.mkdir(parents=True)
    link_memories(rtl, work)
    (work / "pixels.hex").write_text("".join(f"{int(p):02x}\n" for p in images.reshape(-1)))
    args = [f"+images={len(images)}"]
    args += bench_plusargs(plusargs)
    if exe is not None:
        run_tool("verilator", args, cwd=work, program=exe, poll=poll, timeout=7200)
    else:
        run_tool(
            "vvp",
            ["-n", icarus_binary(_sources(rtl, man), BENCH_TOP, work / "bench.vvp"), *args],
            cwd=work,
            poll=poll,
            timeout=7200,
        )
    return events(work / "events.txt")


def _sources(rtl: Path, man: dict) -> list[Path]:
    return [rtl / f for f in man["files"]] + [rtl / man["testbench"]["file"]]


def verilator_model(rtl: Path, man: dict) -> Path:
    """The bench and design compiled with Verilator (cached by the sources' hash)."""
    return verilator_binary(_sources(rtl, man), BENCH_TOP)
