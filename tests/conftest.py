"""Shared fixtures: most tests build their graph inside a fresh default graph. The pass manager verifies
the graph after every pass in the whole test suite."""

import os

import pytest

os.environ.setdefault("GRAPHC_VERIFY", "1")

import graphc as gc


@pytest.fixture
def graph():
    """A new graph, made the default graph for the test."""
    g = gc.Graph()
    with g.as_default():
        yield g
