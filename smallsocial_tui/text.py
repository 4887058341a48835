"""Untrusted text for the terminal: see :mod:`protocol.display` (shared with the node's output)."""

from protocol.display import safe, safe_name, short_key

__all__ = ["safe", "safe_name", "short_key"]
