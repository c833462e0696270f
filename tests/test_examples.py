"""The examples run and reach their targets."""

import importlib.util
import pathlib

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_linear_regression_recovers_slope_and_intercept(capsys):
    w, b = _load("linear_regression").main()
    assert abs(w - 3.0) < 0.1 and abs(b - 2.0) < 0.1
    assert "w = " in capsys.readouterr().out
