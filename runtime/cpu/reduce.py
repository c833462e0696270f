"""CPU kernels for graphc/ops/reduce.py (being written; until then numpy_kernels.py serves these ops)."""
