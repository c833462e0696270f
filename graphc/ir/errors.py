"""Error types raised while building and running graphs.

Every error a user can meet names the node it concerns (its name, op and the user's source line where it
was created) and, where it applies, the expected and the actual shape or dtype. Ops raise these errors
without a node; the graph attaches the node context when the op is applied (see ``Graph.apply``).
"""

from __future__ import annotations


class GraphcError(Exception):
    """Base class of graphc's errors. ``where`` is the node context, e.g. ``node 'dense/matmul' ...``."""

    def __init__(self, message: str, where: str | None = None):
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)

    def with_context(self, where: str) -> GraphcError:
        """The same error with node context attached (kept if already present)."""
        if self.where is not None:
            return self
        err = type(self).__new__(type(self))
        GraphcError.__init__(err, self.message, where)
        return err


class ShapeError(GraphcError, ValueError):
    """Incompatible or unexpected shapes."""


class DTypeError(GraphcError, TypeError):
    """Unsupported or mismatched dtypes."""


class AxisError(ShapeError, IndexError):
    """An axis out of range for a tensor's rank."""


class FeedError(GraphcError, ValueError):
    """A placeholder that is needed but not fed, or a feed key that cannot be fed."""


class GraphMismatchError(GraphcError, ValueError):
    """Tensors from different graphs used together."""


class RunError(GraphcError, RuntimeError):
    """A node failed while a graph was running."""
