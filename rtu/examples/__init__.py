"""Shipped configuration files: ``bench.toml`` (the built-in bench profile) and ``example.toml``
(the annotated example documenting every key). Loaded through :mod:`importlib.resources`."""
