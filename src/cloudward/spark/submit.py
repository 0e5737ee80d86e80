"""Entry file for `spark-submit`: `spark-submit [options] .../cloudward/spark/submit.py INPUT… --output DIR`.

The arguments are those of `cloudward spark-scan`; the master and resources come from spark-submit.
"""

from __future__ import annotations

import sys

from cloudward.cli import main

if __name__ == "__main__":
    main(["spark-scan", *sys.argv[1:]])
