"""Yamux window updates batched as go-yamux does, not one frame per read (py-libp2p 0.8.1).

A yamux receiver credits what it has read back to the sender with WINDOW_UPDATE frames.
go-yamux and js-libp2p send one once at least half of the window has been read.
py-libp2p 0.8.1 also credits whatever was read since the last update on *every* read
(its "partial slack" branch, which its ``PY_YAMUX_RELEASE_ON_READ`` switch does not turn
off). Pubsub reads a length prefix and then a body, so a member sent about 40 frames,
each sealed by Noise and written to the socket, for every message it received, and its
peers decrypted and handled each one (a tenth of a receiver's CPU in a profile).

:func:`install` replaces that step with go-yamux's rule: credit the window back, in one
frame, when the room to grant is at least half the window (py-libp2p's own threshold and
auto-tuning are kept). The sender can still have half a window (128 KiB at first) in
flight after the last update, so a stream never waits on a credit it would have got
earlier by more than that. The switch is process-wide (py-libp2p keeps it on the stream
class); a benchmark's bare host does not install it.
"""

from __future__ import annotations

from libp2p.stream_muxer.yamux.yamux import YamuxStream

PY_LIBP2P = YamuxStream._auto_tune_and_send_window_update
"""py-libp2p's own step, a window update on every read."""


async def _update_when_half_read(self: YamuxStream, *, bytes_read: int = 0) -> None:
    """``YamuxStream._auto_tune_and_send_window_update``, less its per-read branches."""
    total = 0
    async with self.window_lock:
        buffered = len(self.conn.stream_buffers.get(self.stream_id, b""))
        room = self.target_recv_window - (self.recv_window + buffered)
        if room > 0 and room >= self._grow_threshold():
            total = self._grow_to_delta(buffered) + self._apply_autotune_epoch(buffered)
            self._pending_recv_release = 0
    if total > 0:
        await self.send_window_update(total, skip_lock=True)


def install() -> None:
    """Batch every yamux stream's window updates in this process (idempotent)."""
    YamuxStream._auto_tune_and_send_window_update = _update_when_half_read  # type: ignore[method-assign]
