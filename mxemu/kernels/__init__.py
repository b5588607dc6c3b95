"""Numba kernels: the only place where rounding, saturation and scale selection are decided."""
