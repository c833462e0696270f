"""Every op class and the user functions that apply them, one module per op family.

Importing this package imports every family, so ``graphc.ir.OPS`` lists all ops as soon as graphc is
imported. Each family module lists its user functions in ``__all__``.
"""

from graphc.ops import conv as _conv
from graphc.ops import conv_grad as _conv_grad
from graphc.ops import elementwise as _elementwise
from graphc.ops import fused as _fused
from graphc.ops import indexing as _indexing
from graphc.ops import indexing_grad as _indexing_grad
from graphc.ops import like as _like
from graphc.ops import linalg as _linalg
from graphc.ops import nn as _nn
from graphc.ops import random as _random
from graphc.ops import reduce as _reduce
from graphc.ops import reduce_grad as _reduce_grad
from graphc.ops import shape as _shape
from graphc.ops.conv import *  # noqa: F403
from graphc.ops.conv_grad import *  # noqa: F403
from graphc.ops.core import apply, as_tensor
from graphc.ops.elementwise import *  # noqa: F403
from graphc.ops.indexing import *  # noqa: F403
from graphc.ops.like import *  # noqa: F403
from graphc.ops.linalg import *  # noqa: F403
from graphc.ops.nn import *  # noqa: F403
from graphc.ops.random import *  # noqa: F403
from graphc.ops.reduce import *  # noqa: F403
from graphc.ops.shape import *  # noqa: F403
from graphc.ops.sources import constant, placeholder
from graphc.ops.state import (
    Variable,
    assign,
    assign_add,
    assign_sub,
    global_variables,
    global_variables_initializer,
    group,
    trainable_variables,
    variables_initializer,
)

_FAMILIES = [
    _elementwise,
    _like,
    _reduce,
    _reduce_grad,
    _linalg,
    _shape,
    _indexing,
    _indexing_grad,
    _nn,
    _conv,
    _conv_grad,
    _random,
]
__all__ = [name for family in _FAMILIES for name in family.__all__] + [
    "Variable",
    "apply",
    "as_tensor",
    "assign",
    "assign_add",
    "assign_sub",
    "constant",
    "global_variables",
    "global_variables_initializer",
    "group",
    "placeholder",
    "trainable_variables",
    "variables_initializer",
]
