"""Graph -> graph rewrites (device-blind): the optimizing middle of graphc."""
