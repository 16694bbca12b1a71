"""Numpy training pieces shared by every system: sparsity projections and masks."""
