"""How a circle past its soft cap could split: groups of members by who talks with whom.

:func:`links` turns a circle's messages into who-answered-whom pairs (a reply or a reaction
links its author to the author of the message it points at). :func:`suggest` groups the
members by greedy modularity (Clauset, Newman and Moore 2004): every member starts alone, and
the two groups whose merging raises the modularity most are merged, until no merge raises it.
Members who talked with nobody join the smallest group, one by one. Everything is integers and
sorted keys, so the same members and links give the same groups on every machine, whatever
order the links come in. Pure: no clock, no IO; at most ``schema.MAX_MEMBERS`` members, and
O(members x distinct pairs) steps.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from protocol import schema

Link = tuple[bytes, bytes]
"""Two members who exchanged one reply or reaction (order does not matter)."""


def links(messages: Iterable[tuple[bytes, bytes, bytes | None]]) -> list[Link]:
    """(message id, author, the id it replies or reacts to) -> a link per answer to someone else.

    A reference to a message that is not among ``messages`` (not readable, or not kept) links
    nobody; nor does an answer to one's own message.
    """
    msgs = list(messages)
    author = {mid: a for mid, a, _ in msgs}
    out: list[Link] = []
    for _, a, ref in msgs:
        b = author.get(ref) if ref is not None else None
        if b is not None and b != a:
            out.append((a, b))
    return out


def suggest(members: Iterable[bytes], talk: Iterable[Link]) -> list[tuple[bytes, ...]]:
    """Groups of ``members`` (each sorted; the largest first, ties by first key).

    One group (everyone) when there is nothing to split by: no links, or one tight group.
    Links naming a non-member (someone who left) are ignored.
    """
    people = sorted(set(members))
    if len(people) > schema.MAX_MEMBERS:
        raise ValueError(f"a circle has at most {schema.MAX_MEMBERS} members")
    index = {k: i for i, k in enumerate(people)}
    weight: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for a, b in talk:
        i, j = index.get(a), index.get(b)
        if i is None or j is None or i == j:
            continue
        weight[i][j] += 1
        weight[j][i] += 1
    degree = {i: sum(w.values()) for i, w in weight.items()}
    two_m = sum(degree.values())  # twice the total weight
    groups: dict[int, list[int]] = {i: [i] for i in weight}
    alone = [i for i in range(len(people)) if i not in weight]
    while True:
        # Merging i and j changes the modularity by 2 (w_ij / 2m - d_i d_j / (2m)^2): compare
        # 2m w_ij - d_i d_j, in integers. Ties: the pair of smallest group numbers.
        best: tuple[int, int, int] | None = None
        for i in sorted(weight):
            for j in sorted(weight[i]):
                if j <= i:
                    continue
                gain = two_m * weight[i][j] - degree[i] * degree[j]
                if best is None or gain > best[0]:
                    best = (gain, i, j)
        if best is None or best[0] <= 0:
            break
        _, i, j = best
        for k, w in weight.pop(j).items():
            del weight[k][j]
            if k != i:
                weight[i][k] += w
                weight[k][i] += w
        degree[i] += degree.pop(j)
        groups[i] += groups.pop(j)
    found = [sorted(g) for g in groups.values()]
    if not found:
        return [tuple(people)] if people else []
    for i in alone:
        smallest = min(found, key=lambda g: (len(g), g[0]))
        smallest.append(i)
        smallest.sort()
    found.sort(key=lambda g: (-len(g), g[0]))
    return [tuple(people[i] for i in g) for g in found]
