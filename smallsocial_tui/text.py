"""Untrusted text for the terminal: see :mod:`protocol.display` (shared with the node's output);
and the lines the CLI and the TUI both print for a result (:func:`rekeyed_line`)."""

from protocol.display import json_text, local_time, name_key, safe, safe_name, short_key
from protocol.node.api import RekeyResult

__all__ = ["json_text", "local_time", "name_key", "rekeyed_line", "safe", "safe_name", "short_key"]


def history_line(mode: str, deleted: int, *, asked: bool) -> str:
    """What the history setting means, as the CLI and ``/history`` say it (``asked``: only shown)."""
    if asked:
        if mode == "forget":
            return "History is forgotten: an epoch's key is deleted 3 days after the next epoch begins."
        return "History is kept: old messages stay readable here (`history forget` to change)."
    if mode == "forget":
        return f"History is forgotten from now on; {deleted} old epoch key(s) deleted now."
    return "History is kept from now on: the keys still here stay."


def rekeyed_line(r: RekeyResult) -> str:
    """``Rekeyed friends: epoch 4, sealed to 3 devices.``"""
    keys = "device" if r.keys == 1 else "devices"
    return f"Rekeyed {safe_name(r.name)}: epoch {r.epoch}, sealed to {r.keys} {keys}."
