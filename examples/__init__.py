"""Components the documentation's examples use, importable as ``examples.MODULE:Class``.

Run blueprints naming them from the repository's root (the current directory is on the
component search path), or install your own package the same way.
"""
