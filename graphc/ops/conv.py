"""(being written) conv ops."""

__all__: list[str] = []
