"""The spectral system's settings: what its training, ADMM and prune stages depend on.

Plain dataclasses with their defaults, kept apart from the code that uses them so that the
command line (and :class:`codesign.spectral.steps.FlowSettings`) can read the defaults without
importing the training or cvxpy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from codesign.spectral.fixedpoint import FixedPointConfig

__all__ = ["TrainConfig", "AdmmConfig", "PruneSettings"]


@dataclass(frozen=True)
class TrainConfig:
    """Adam on mini-batches with a decaying learning rate (the dense and masked trainings)."""

    epochs: int = 12
    batch: int = 32
    lr: float = 2e-3
    lr_decay: float = 0.8
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 3e-4
    shift: int = 0  # augmentation: random translation by up to this many pixels, zero fill


@dataclass(frozen=True)
class AdmmConfig:
    """ADMM iterations, the penalty ρ and its growth, the cvxpy solver of the W-steps."""

    iterations: int = 24
    rho0: float = 3e-2
    rho_growth: float = 1.5
    solver: str = "CLARABEL"


@dataclass(frozen=True)
class PruneSettings:
    """Everything the prune stage depends on (recorded in the artifact)."""

    density: float = 0.25
    dense_density: float = 0.1  # hidden dense layers; the output layer stays dense
    dense_method: str = "magnitude"  # or "admm" (cvxpy W-steps, minutes on fc1)
    balanced: bool = True
    layer_density: dict = field(default_factory=dict)  # per-layer override: {"fc3": 0.5}
    epochs: int = 12
    retrain_epochs: int = 8
    seed: int = 0
    calibration_images: int = 2000
    train: TrainConfig = TrainConfig()
    admm: AdmmConfig = AdmmConfig()
    fixed_point: FixedPointConfig = FixedPointConfig()

    def density_of(self, layer: dict, output: bool = False) -> float:
        """The layer's own density if set, else the model-wide one for its kind; the output
        layer (``output``: the classifier, a tenth of a percent of LeNet's weights, where
        pruning costs the most accuracy) is kept dense unless named in ``layer_density``."""
        if layer["type"] == "spectral_conv":
            default = self.density
        else:
            default = 1.0 if output else self.dense_density
        return self.layer_density.get(layer["name"], default)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fixed_point"] = self.fixed_point.to_dict()
        return d
