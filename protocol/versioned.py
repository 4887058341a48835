"""Maps and sets that remember: read-only views of them as they were at an earlier time.

The incremental roster fold (:mod:`protocol.fold`) changes a few entries per record and
hands out a :class:`~protocol.roster.RosterState` after each one. Copying its maps for
every state would cost O(members) per record; instead every change is stamped with a
:class:`Clock` time, and a state holds views that read each entry as it was at the time the
state was made. A change costs O(1), a read O(1) (O(log changes of that key) for an old
view), and old states stay exactly what they were.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from typing import Generic, TypeVar, cast

K = TypeVar("K")
V = TypeVar("V")


class _Gone:
    """The value of a removed entry."""


GONE = _Gone()


class Clock:
    """The time changes are stamped with; a view taken at ``now`` sees changes up to it."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0


class VMap(Generic[K, V]):
    """A dict (the subset of its methods the roster walk uses) that keeps every version."""

    def __init__(self, clock: Clock, initial: Mapping[K, V] | None = None) -> None:
        self._clock = clock
        self._h: dict[K, list[tuple[int, V | _Gone]]] = {}
        self._n = 0
        self._lens: list[tuple[int, int]] = [(-1, 0)]
        for k, v in (initial or {}).items():
            self[k] = v

    def _put(self, k: K, v: V | _Gone) -> None:
        t = self._clock.now
        h = self._h.get(k)
        was = h is not None and not isinstance(h[-1][1], _Gone)
        if h is None:
            self._h[k] = [(t, v)]
        elif h[-1][0] == t:
            h[-1] = (t, v)
        else:
            h.append((t, v))
        now = not isinstance(v, _Gone)
        if was != now:
            self._n += 1 if now else -1
            if self._lens[-1][0] == t:
                self._lens[-1] = (t, self._n)
            else:
                self._lens.append((t, self._n))

    def __setitem__(self, k: K, v: V) -> None:
        self._put(k, v)

    def get(self, k: K, default: V | None = None) -> V | None:
        h = self._h.get(k)
        if h is None or isinstance(h[-1][1], _Gone):
            return default
        return h[-1][1]

    def __getitem__(self, k: K) -> V:
        h = self._h.get(k)
        if h is None:
            raise KeyError(k)
        v = h[-1][1]
        if isinstance(v, _Gone):
            raise KeyError(k)
        return v

    def __contains__(self, k: object) -> bool:
        h = self._h.get(cast(K, k))
        return h is not None and not isinstance(h[-1][1], _Gone)

    def pop(self, k: K, default: V | None = None) -> V | None:
        v = self.get(k, default)
        if k in self:
            self._put(k, GONE)
        return v

    def __len__(self) -> int:
        return self._n

    def keys(self) -> list[K]:
        return [k for k, h in self._h.items() if not isinstance(h[-1][1], _Gone)]

    def __iter__(self) -> Iterator[K]:
        return iter(self.keys())

    def items(self) -> list[tuple[K, V]]:
        return [(k, h[-1][1]) for k, h in self._h.items() if not isinstance(h[-1][1], _Gone)]

    def values(self) -> list[V]:
        return [v for _, v in self.items()]

    def at(self, t: int) -> VMapView[K, V]:
        return VMapView(self, t)

    def value_at(self, k: K, t: int) -> V | _Gone:
        h = self._h.get(k)
        if h is None:
            return GONE
        if h[-1][0] <= t:
            return h[-1][1]
        i = bisect_right(h, t, key=lambda e: e[0])
        return GONE if i == 0 else h[i - 1][1]

    def len_at(self, t: int) -> int:
        if self._lens[-1][0] <= t:
            return self._n
        return self._lens[bisect_right(self._lens, t, key=lambda e: e[0]) - 1][1]

    def keys_at(self, t: int) -> Iterator[K]:
        for k in list(self._h):
            if not isinstance(self.value_at(k, t), _Gone):
                yield k


class VMapView(Mapping[K, V]):
    """A :class:`VMap` as it was at time ``t``; ``wrap`` turns a stored value into what is shown."""

    def __init__(self, vmap: VMap[K, V], t: int, wrap: Callable[[V, int], V] | None = None) -> None:
        self._m = vmap
        self._t = t
        self._wrap = wrap

    def __getitem__(self, k: K) -> V:
        v = self._m.value_at(k, self._t)
        if isinstance(v, _Gone):
            raise KeyError(k)
        return v if self._wrap is None else self._wrap(v, self._t)

    def __contains__(self, k: object) -> bool:
        return not isinstance(self._m.value_at(cast(K, k), self._t), _Gone)

    def __iter__(self) -> Iterator[K]:
        return self._m.keys_at(self._t)

    def __len__(self) -> int:
        return self._m.len_at(self._t)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self)!r})"


class VSet(Generic[K]):
    """A set that keeps every version (a :class:`VMap` to True)."""

    def __init__(self, clock: Clock, initial: Iterable[K] = ()) -> None:
        self._m: VMap[K, bool] = VMap(clock)
        for k in initial:
            self.add(k)

    def add(self, k: K) -> None:
        if k not in self._m:
            self._m[k] = True

    def discard(self, k: K) -> None:
        self._m.pop(k)

    def __contains__(self, k: object) -> bool:
        return k in self._m

    def __len__(self) -> int:
        return len(self._m)

    def __iter__(self) -> Iterator[K]:
        return iter(self._m)

    def at(self, t: int) -> VSetView[K]:
        return VSetView(self._m, t)


class VSetView(AbstractSet[K]):
    """A :class:`VSet` as it was at time ``t``."""

    def __init__(self, vmap: VMap[K, bool], t: int) -> None:
        self._m = vmap
        self._t = t

    def __contains__(self, k: object) -> bool:
        return not isinstance(self._m.value_at(cast(K, k), self._t), _Gone)

    def __iter__(self) -> Iterator[K]:
        return self._m.keys_at(self._t)

    def __len__(self) -> int:
        return self._m.len_at(self._t)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({set(self)!r})"
