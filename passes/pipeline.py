"""The optimization pipeline: one literal list, read top to bottom.

Every pass is device-blind and keeps meaning (tests run random graphs before and after each pass).
``prune`` runs again after the passes that leave replaced nodes behind; ``cse`` again after the rewrites
that make equal nodes; ``fuse`` last, on the cleaned program.
"""

from __future__ import annotations

from graphc.passes.cse import cse
from graphc.passes.fold import fold_constants
from graphc.passes.fuse import fuse
from graphc.passes.prune import prune
from graphc.passes.simplify import simplify
from graphc.passes.stabilize import stabilize

PIPELINE = (
    prune,
    fold_constants,
    cse,
    simplify,
    stabilize,
    fold_constants,
    cse,
    prune,
    fuse,
)
