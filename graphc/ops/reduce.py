"""(being written) reduce ops."""

__all__: list[str] = []
