"""Packaged data lists (YAML)."""
