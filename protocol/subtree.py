"""A circle's subtree: its descendants found through the parent links, deepest first.

Pure functions over a ``{circle: parent}`` map (the store's ``circles.parent`` column,
which :func:`protocol.circle.parent_of` fills from each genesis). Leaving a subtree
goes deepest first, so a parent is never left while a child of it still lists me.
"""

from __future__ import annotations

from collections.abc import Mapping


def descendants(root: bytes, parents: Mapping[bytes, bytes | None]) -> list[bytes]:
    """Every circle under ``root`` (not ``root`` itself), deepest first, then in id order.

    A cycle in the links (impossible with honest genesis hashes) is cut: each circle is
    listed once, and ``root`` never.
    """
    children: dict[bytes, list[bytes]] = {}
    for cid, parent in parents.items():
        if parent is not None and parent != cid:
            children.setdefault(parent, []).append(cid)
    depth: dict[bytes, int] = {}
    todo = [(c, 1) for c in sorted(children.get(root, []))]
    while todo:
        cid, d = todo.pop()
        if cid in depth or cid == root:
            continue
        depth[cid] = d
        todo += [(c, d + 1) for c in sorted(children.get(cid, []))]
    return sorted(depth, key=lambda c: (-depth[c], c))
