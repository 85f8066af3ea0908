"""The optional C extension of matching's hot loops (watcher/text/_speedups.c). Everything
else is in pyproject.toml. Optional: without a compiler the install still succeeds, and
watcher runs the same loops in Python (watcher/text/kernels.py)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("watcher.text._speedups", ["watcher/text/_speedups.c"],
                             optional=True)])
