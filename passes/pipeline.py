"""The optimization pipeline: one literal list, read top to bottom.

Every pass is device-blind and keeps meaning (tests run random graphs before and after each pass).
"""

from __future__ import annotations

from graphc.passes.cse import cse
from graphc.passes.fold import fold_constants
from graphc.passes.prune import prune

PIPELINE = (
    prune,
    fold_constants,
    cse,
    prune,
)
