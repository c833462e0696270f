"""graphc.init: initializers refuse what they cannot make, and keep their documented ranges."""

import dataclasses

import numpy as np
import pytest

import graphc as gc


@pytest.mark.parametrize(
    "make",
    [
        lambda: gc.init.glorot_uniform((4, 4), dtype="int32"),
        lambda: gc.init.uniform((4,), dtype="int64"),
        lambda: gc.init.normal((4,), dtype="int32"),
    ],
    ids=["glorot", "uniform", "normal"],
)
def test_initializers_that_draw_floats_refuse_integer_dtypes(make):
    with pytest.raises(gc.DTypeError, match="draws floats"):
        make()


def test_an_integer_constant_initializer_holds_its_value_exactly():
    assert gc.init.constant((3,), 2.0, dtype="int32")().tolist() == [2, 2, 2]
    with pytest.raises(gc.DTypeError, match="not an integer"):
        gc.init.constant((3,), 1.5, dtype="int32")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: gc.init.normal((4,), stddev=-1.0), "stddev -1.0"),
        (lambda: gc.init.truncated_normal((4,), stddev=-1.0), "stddev -1.0"),
        (lambda: gc.init.uniform((4,), low=1.0, high=-1.0), "low 1.0 is above high -1.0"),
        (lambda: gc.init.zeros((None, 3)), "fully known shape"),
    ],
    ids=["normal", "truncated", "uniform", "unknown-dim"],
)
def test_bad_initializer_arguments_fail_when_the_initializer_is_made(make, message):
    with pytest.raises((ValueError, gc.ShapeError), match=message):
        make()


def test_a_constant_initializer_value_that_does_not_broadcast_fails_when_the_initializer_is_made():
    np.testing.assert_array_equal(gc.init.constant((2, 3), [1.0, 2.0, 3.0])(), [[1, 2, 3], [1, 2, 3]])
    with pytest.raises(gc.ShapeError, match=r"value of shape \(3,\).*shape \(2,\)"):
        gc.init.constant((2,), [1.0, 2.0, 3.0])


def test_a_custom_initializer_serving_a_callers_array_gives_the_variable_its_own_copy(graph):
    table = np.arange(12, dtype=np.float32)

    @dataclasses.dataclass(frozen=True)
    class FirstRows(gc.init.Initializer):  # serves a slice of the caller's table as it is
        def sample(self, rng):
            return table[:6].reshape(self.shape)

    w = gc.Variable(FirstRows((2, 3)), name="w")
    with gc.Session(device="reference") as sess:
        before = sess.run(w)
        table[:] = -1.0  # no run in between: the variable's value must not follow the table
        np.testing.assert_array_equal(sess.run(w), before)
    assert table.flags.writeable  # nor may the caller's table be made read-only


def test_a_constant_initializer_keeps_its_array_as_it_was_when_made():
    row = np.array([1.0, 2.0, 3.0], np.float32)
    g = gc.Graph()
    with g.as_default():
        w = gc.Variable(gc.init.constant((2, 3), row), name="w")
        expected = np.broadcast_to(row, (2, 3)).copy()
        row[:] = -7.0  # the variable is initialized at its first read, after this
        with gc.Session(device="reference") as sess:
            np.testing.assert_array_equal(sess.run(w), expected)


def test_constant_initializers_holding_arrays_compare_and_hash_by_their_values():
    # an array value compared elementwise: == raised numpy's "truth value of an array is ambiguous"
    a = gc.init.constant((2, 3), [1.0, 2.0, 3.0])
    b = gc.init.constant((2, 3), np.array([1.0, 2.0, 3.0]))
    c = gc.init.constant((2, 3), [1.0, 2.0, 4.0])
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert gc.init.constant((3,), 0.5) == gc.init.constant((3,), 0.5)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: gc.init.normal((4,), mean=float("nan")), "mean nan"),
        (lambda: gc.init.truncated_normal((4,), mean=1e39), "mean 1e\\+39 is not finite in float32"),
        (lambda: gc.init.normal((4,), stddev=1e39), "stddev 1e\\+39 is not finite in float32"),
        (lambda: gc.init.uniform((4,), high=float("inf")), "high inf"),
        (lambda: gc.init.uniform((4,), low=-1e39, high=0.0), "low -1e\\+39"),
    ],
    ids=["nan-mean", "float32-mean", "float32-stddev", "inf-high", "float32-low"],
)
def test_initializer_parameters_the_dtype_cannot_hold_fail_when_the_initializer_is_made(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("seed", [-1, 1.5], ids=["negative", "float"])
def test_an_initializer_seed_numpy_cannot_take_fails_when_the_initializer_is_made(seed):
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        gc.init.uniform((4,), seed=seed)


def test_a_float32_uniform_initializer_never_reaches_high():
    values = gc.init.uniform((100_000,), low=1e6, high=1e6 + 1, seed=0)()
    assert values.dtype == np.float32 and (values < np.float32(1e6 + 1)).all() and values.min() >= 1e6


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_an_initializer_whose_sample_has_another_shape_is_refused_naming_the_variable(graph, device):
    @dataclasses.dataclass(frozen=True)
    class Arange(gc.init.Initializer):  # a custom initializer whose sample ignores its shape
        def sample(self, rng):
            return np.arange(4.0).reshape(2, 2)

    w = gc.Variable(Arange((3, 4)), name="w")
    x = gc.placeholder("float32", (None, 3), name="x")
    with (
        gc.Session(device=device) as sess,
        pytest.raises(gc.ShapeError, match=r"node 'w'.*Arange.*\(2, 2\).*\(3, 4\)"),
    ):
        sess.run(gc.relu(x @ w + 1.0), {x: np.ones((2, 3), np.float32)})  # the CPU read past its end


@pytest.mark.parametrize("device", ["reference", "cpu"])
def test_an_initializer_whose_sample_has_another_shape_is_named_by_its_variable_in_an_init_run(graph, device):
    @dataclasses.dataclass(frozen=True)
    class Arange(gc.init.Initializer):
        def sample(self, rng):
            return np.arange(4.0).reshape(2, 2)

    gc.Variable(0.0, name="a")
    gc.Variable(Arange((3, 4)), name="w")
    init = gc.global_variables_initializer()
    with (
        gc.Session(device=device) as sess,
        pytest.raises(gc.ShapeError, match=r"node 'w'.*\(2, 2\).*\(3, 4\)"),
    ):
        sess.run(init)  # named only node 'init', which resets every variable
