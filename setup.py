"""Only for the optional C accelerator; everything else is in pyproject.toml.

`optional=True`: without a C compiler the install still succeeds and Cloudward uses its pure-Python path.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("cloudward._speedups", ["src/cloudward/_speedups.c"], optional=True),
                   # the auditd record decoder's hot fields (cloudward/parsers/auditd.py)
                   Extension("cloudward._auditd", ["src/cloudward/_auditd.c"], optional=True)])
