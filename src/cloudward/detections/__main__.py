"""`python -m cloudward.detections`: print `_index.py` for the cards as they are."""

import sys

from cloudward.detections import index_source

sys.stdout.write(index_source())
