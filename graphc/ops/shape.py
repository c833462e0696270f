"""(being written) shape ops."""

__all__: list[str] = []
