"""Every docstring example in graphc runs (graphc, graphc.passes and graphc.runtime)."""

import doctest
import importlib
import pkgutil

import pytest

import graphc
import graphc.passes
import graphc.runtime


def _modules():
    names = []
    for package in (graphc, graphc.passes, graphc.runtime):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            names.append(info.name)
    return sorted(n for n in set(names) if not n.endswith("__main__"))  # importing __main__ runs the CLI


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    graphc.reset_default_graph()
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
