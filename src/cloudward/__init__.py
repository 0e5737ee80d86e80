"""Cloudward: threat detection for Kubernetes clusters, container hosts and web apps."""

__version__ = "0.1.0"
