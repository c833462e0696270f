"""Shared fixtures: most tests build their graph inside a fresh default graph."""

import pytest

import graphc as gc


@pytest.fixture
def graph():
    """A new graph, made the default graph for the test."""
    g = gc.Graph()
    with g.as_default():
        yield g
