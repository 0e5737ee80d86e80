"""Runners own sources, batching and sinks around one `Engine` (see `cloudward.engine`).

`scan` reads files, folders and stdin once; `tail`, `serve`, the host agent and worker pools are
later runners of the same shape: bytes or events in, changed alerts out to the sinks, a checkpoint
stored with the batch that made it.
"""
