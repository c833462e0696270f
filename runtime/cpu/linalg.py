"""CPU kernels for graphc/ops/linalg.py (being written; until then numpy_kernels.py serves these ops)."""
