"""CPU kernels for graphc/ops/conv.py (being written; until then numpy_kernels.py serves these ops)."""
