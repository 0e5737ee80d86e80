"""Fixtures: a real `cloudward serve` per test, stopped by pid at the end (defined in `serving`)."""

from serving import make_server, server

__all__ = ["make_server", "server"]
