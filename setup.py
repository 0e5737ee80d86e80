"""Only for the optional C accelerators; everything else is in pyproject.toml.

`optional=True`: without a C compiler the install still succeeds and Cloudward uses its pure-Python path.
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("cloudward._speedups", ["src/cloudward/_speedups.c"], optional=True),
    # the web block scan (parsers/_webscan.py, `BlockScanner.compile_clf`)
    Extension("cloudward._webscan", ["src/cloudward/_webscan.c"], optional=True),
    # the auditd record decoder's hot fields (cloudward/parsers/auditd.py) and the audit socket reader
    Extension("cloudward._auditd", ["src/cloudward/_auditd.c"], optional=True),
    # Tetragon JSON lines decoded a block at a time (cloudward/parsers/tetragon.py, `Tetragon.line_block_decoder`)
    Extension("cloudward._tetragon", ["src/cloudward/_tetragon.c"], optional=True),
])
