"""The whole accelerator: AXI4-Stream pixels in → spectral conv engines → dense units → scores
and predicted class out over AXI4-Stream (docs/accelerator.md).

Stages are chained by valid/ready handshakes of one activation per clock in the order the next
layer consumes them ((c, y, x) raster for maps, feature order for vectors; a link between two
conv engines may carry k channels of one position per clock, the producer's ``out_words``,
in the order (c // k, y, x)), so every stage
buffers exactly one image ahead (ping-pong) and back-pressure travels from ``m_axis_tready`` to
``s_axis_tready`` without loss.  One clock ``aclk``; ``aresetn`` is an active-low synchronous
reset of every control register.  ``codesign generate`` converts it with initial values
(:func:`codesign.hdl.convert.convert`, ``initial_values``): in simulation every register starts
at its reset value and every output is defined from time 0 — ``s_axis_tready`` high (the
first layer's input buffers are free), the ``m_axis`` outputs and ``frame_error`` 0
(docs/accelerator.md, "Initial values").
"""

from __future__ import annotations

from myhdl import ResetSignal, Signal, always_comb, block

from codesign.hdl.signals import words_signal
from codesign.spectral.fixedpoint import FixedPointConfig
from codesign.spectral.hdl.axis import axis_pixels_in, axis_scores_out, axis_signals
from codesign.spectral.hdl.dense import dense_unit
from codesign.spectral.hdl.engine import engine_signals, spectral_engine

__all__ = ["accelerator", "accelerator_signals"]


def accelerator_signals(
    classes: int, cfg: FixedPointConfig | None = None, per_beat: int = 1
) -> dict:
    """Fresh top-level port signals, in port order."""
    cfg = cfg or FixedPointConfig()
    return {
        "aclk": Signal(bool(0)),
        "aresetn": Signal(bool(0)),
        **axis_signals(classes, cfg.input_bits, cfg.activation.bits, per_beat),
    }


@block
def _active_low(aresetn, rst):
    @always_comb
    def invert():
        rst.next = not aresetn

    return invert


@block
def accelerator(
    aclk,
    aresetn,
    s_axis_tdata,
    s_axis_tvalid,
    s_axis_tready,
    s_axis_tlast,
    m_axis_tdata,
    m_axis_tvalid,
    m_axis_tready,
    m_axis_tlast,
    m_axis_tuser,
    frame_error,
    *,
    stages: list,
    pixels: int,
    classes: int,
    cfg: FixedPointConfig | None = None,
    per_beat: int = 1,
    pace: int = 0,
):
    """``stages``: per layer, ``{"kind": "spectral", "lm", "layer", "bias"}`` or
    ``{"kind": "dense", "weight", "mask", "bias", "macs", "relu"}``, in network order;
    ``per_beat`` pixels per ``s_axis`` beat (a divisor of ``pixels``); ``pace``: least clocks
    between images' first pixels in the first (spectral) layer
    (:func:`~codesign.spectral.hdl.timing.network_pace`)."""
    cfg = cfg or FixedPointConfig()
    if per_beat < 1 or pixels % per_beat:
        raise ValueError(
            f"pixels per beat must divide the {pixels} pixels of an image, got {per_beat}"
        )
    rst = ResetSignal(1, active=1, isasync=False)
    # words per clock on each link: what its producer emits (a conv engine's out_words)
    widths = [1] + [st["lm"].arch.out_words if st["kind"] == "spectral" else 1 for st in stages]
    links = [(Signal(bool(0)), Signal(bool(0)), words_signal(cfg.activation, k)) for k in widths]
    insts = [
        _active_low(aresetn, rst),
        axis_pixels_in(
            aclk,
            rst,
            s_axis_tdata,
            s_axis_tvalid,
            s_axis_tready,
            s_axis_tlast,
            *links[0],
            frame_error,
            pixels=pixels,
            shift=cfg.activation.frac - cfg.input_bits,
            per_beat=per_beat,
        ),
    ]
    for i, st in enumerate(stages):
        (iv, ir, ix), (ov, orr, ox) = links[i], links[i + 1]
        if st["kind"] == "spectral":
            sig = engine_signals(st["layer"], cfg, widths[i], widths[i + 1])
            insts.append(
                spectral_engine(
                    aclk,
                    rst,
                    iv,
                    ir,
                    ix,
                    ov,
                    orr,
                    sig["out_o"],
                    sig["out_y"],
                    sig["out_x"],
                    ox,
                    lm=st["lm"],
                    layer=st["layer"],
                    bias=st["bias"],
                    cfg=cfg,
                    pace=pace if i == 0 else 0,
                )
            )
        else:
            insts.append(
                dense_unit(
                    aclk,
                    rst,
                    iv,
                    ir,
                    ix,
                    ov,
                    orr,
                    ox,
                    weight=st["weight"],
                    bias=st["bias"],
                    macs=st["macs"],
                    relu=st["relu"],
                    mask=st["mask"],
                    cfg=cfg,
                )
            )
    insts.append(
        axis_scores_out(
            aclk,
            rst,
            *links[-1],
            m_axis_tdata,
            m_axis_tvalid,
            m_axis_tready,
            m_axis_tlast,
            m_axis_tuser,
            classes=classes,
        )
    )
    return insts
