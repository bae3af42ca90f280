"""Only the C extension lives here; everything else is declared in setup.cfg.

The record parser in C is the hot loop of a restore (restore_jobs/backup/segment.py). It is
optional: without a C compiler the package installs with the Python parser alone, which is slower.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("restore_jobs.backup._records", ["restore_jobs/backup/_records.c"],
                             extra_compile_args=["-O2", "-Wall"], optional=True)])
