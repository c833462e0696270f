"""runtime/cpu/cython_blas.py: Numba's BLAS module loaded without the scipy.linalg package, and the
package still whole when the user imports it later (checked in a fresh interpreter)."""

import subprocess
import sys
import textwrap


def test_loaded_alone_then_linked_into_the_package():
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        import graphc as gc

        g = gc.Graph()
        with g.as_default():
            a = gc.placeholder("float32", (4, 8))
            out = gc.matmul(a, gc.constant(np.ones((8, 3), np.float32)))  # a Numba GEMM (np.dot)
            with gc.Session(g, device="cpu") as sess:
                got = sess.run(out, {a: np.ones((4, 8), np.float32)})
        assert (got == 8).all()
        assert "scipy.linalg.cython_blas" in sys.modules
        alone = "scipy.linalg" not in sys.modules
        import scipy.linalg

        assert scipy.linalg.cython_blas is sys.modules["scipy.linalg.cython_blas"]
        assert np.allclose(scipy.linalg.solve(np.eye(2), np.ones(2)), 1)
        print("alone" if alone else "package")
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "alone"
