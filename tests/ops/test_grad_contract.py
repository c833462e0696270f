"""The gradient contract: every op with a gradient rule is checked against central finite differences
in float64 on every sample of the op table, to first and second order; an op with a rule and no
checked sample fails the coverage test.

Float inputs are drawn afresh in the sample's [low, high) range (fixed sample values often sit on kinks,
where finite differences are meaningless); integer and bool inputs are used as the sample makes them.
A sample tagged "no_grad" is skipped here, "no_grad2" skips only the second-order check.
"""

import zlib

import numpy as np
import pytest

import graphc as gc
from graphc.ir import OPS
from graphc.ir.op import has_gradient_rule
from graphc.testing import check_grad
from tests.ops.samples import SAMPLES


def _float_in_and_out(sample) -> bool:
    if not any(np.dtype(a.dtype).kind == "f" for a in sample.args):
        return False
    with gc.Graph().as_default():
        out = sample.build(*(gc.placeholder(a.dtype, a.placeholder_shape) for a in sample.args))
    outs = out if isinstance(out, (list, tuple)) else [out]
    return any(o.dtype.kind == "f" for o in outs)


def _differentiated(op) -> bool:
    """Ops with a rule, less the compiler-only ones (made by passes after ``grad`` has run)."""
    return has_gradient_rule(op) and not getattr(op, "compiler_only", False)


def _checked(sample) -> bool:
    op = OPS[sample.op]
    return _differentiated(op) and "no_grad" not in sample.tags and _float_in_and_out(sample)


GRAD_SAMPLES = [s for s in SAMPLES if _checked(s)]


def _inputs(sample):
    rng = np.random.default_rng(zlib.crc32(sample.id.encode()))  # stable across processes
    arrays = []
    for a in sample.args:
        if np.dtype(a.dtype).kind == "f":
            arrays.append(rng.uniform(a.low, a.high, a.shape))
        else:
            arrays.append(a.make(rng))
    return arrays


def test_every_op_with_a_gradient_rule_is_checked():
    checked = {s.op for s in GRAD_SAMPLES}
    missing = sorted(name for name, op in OPS.items() if _differentiated(op) and name not in checked)
    assert not missing, f"ops with a vjp but no gradient-checked sample: {missing}"


def test_every_op_has_a_gradient_rule_or_says_why_not():
    from graphc.ir.op import Op

    missing = sorted(name for name, op in OPS.items() if op.vjp is Op.vjp)
    assert not missing, f"ops with neither a vjp nor not_differentiable(...): {missing}"


@pytest.mark.parametrize("sample", GRAD_SAMPLES, ids=lambda s: s.id)
def test_gradient_matches_finite_differences(sample):
    static = [a.placeholder_shape for a in sample.args]
    eps, rtol, atol = sample.grad_tol or (1e-6, 1e-5, 1e-7)
    check_grad(sample.build, _inputs(sample), eps, rtol, atol, static_shapes=static)


@pytest.mark.parametrize("sample", [s for s in GRAD_SAMPLES if "no_grad2" not in s.tags], ids=lambda s: s.id)
def test_second_order_gradient_matches_finite_differences(sample):
    static = [a.placeholder_shape for a in sample.args]
    eps, rtol, atol = sample.grad_tol or (1e-6, 1e-4, 1e-6)
    check_grad(sample.build, _inputs(sample), eps, rtol, atol, static_shapes=static, order=2)
