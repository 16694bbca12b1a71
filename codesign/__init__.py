"""codesign: hardware/software co-design of sparse spectral CNN accelerators for FPGAs."""

__version__ = "0.1.0"
