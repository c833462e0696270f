"""CPU kernels for graphc/ops/nn.py (being written; until then numpy_kernels.py serves these ops)."""
