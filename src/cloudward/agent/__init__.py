"""`cloudward agent`: live process, connection and container telemetry on a Linux node.

Collectors (each optional, each reporting its health) turn what the kernel and the container
runtime say into the same normalized events the file parsers produce; the events go through the same
pipeline and cards as `cloudward scan` (`detect.py` is the one seam to it). Alerts are written the
moment they are raised; events can also be shipped in batches to a central `cloudward serve`
through a bounded on-disk spool (`spool.py`, `poster.py`).
"""
