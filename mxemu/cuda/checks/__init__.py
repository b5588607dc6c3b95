"""Checks of the Triton kernels against the numba kernels: byte differences, the GPU self-check, the compile check."""
