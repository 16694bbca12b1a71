"""System 3: speculative back-propagation — the numpy reference and the two-thread trainer."""

from codesign.specbp.reference import (
    CLASSES,
    Outcome,
    Params,
    ReferenceRun,
    Setup,
    SpecbpError,
    accuracy,
    forward,
    gradients,
    init_params,
    pixels,
    train_plain,
    train_reference,
)
from codesign.specbp.trainer import Run, train

__all__ = [
    "CLASSES",
    "Outcome",
    "Params",
    "ReferenceRun",
    "Run",
    "Setup",
    "SpecbpError",
    "accuracy",
    "forward",
    "gradients",
    "init_params",
    "pixels",
    "train",
    "train_plain",
    "train_reference",
]
