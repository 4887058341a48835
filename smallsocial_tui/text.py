"""Untrusted text for the terminal: see :mod:`protocol.display` (shared with the node's output)."""

from protocol.display import json_text, local_time, name_key, safe, safe_name, short_key

__all__ = ["json_text", "local_time", "name_key", "safe", "safe_name", "short_key"]
