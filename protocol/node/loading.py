"""Loading the node's modules: :func:`collector_paused`, for the imports that bring in libp2p.

Importing the node (libp2p, trio, multiaddr and what they import: about 0.5 s) allocates
some 160,000 objects that live as long as the process. With the cyclic collector running,
that allocation triggers young collections and a full one that walk them again and again:
about 70 ms of the import, measured with ``gc.callbacks``. Paused, and the result frozen
(``gc.freeze``, as :meth:`protocol.node.node.Node.run` freezes what the node holds once it
listens), nothing walks them at all.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block (imports) without cyclic collections, then freeze what is alive.

    The collector is off for the whole process meanwhile (the TUI's event loop too, for the
    half second the node's imports take on their worker thread); it is back on after,
    unless it was off before.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
