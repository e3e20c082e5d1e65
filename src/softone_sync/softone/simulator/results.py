"""Result sets with random access, so a page costs O(page) even over a 1M-row table.

A query over one object yields base rows (a contiguous index range of the generated table, minus
rows the overlay changed or deleted) merged with "extras" (overlay rows that match the query).
``MergedRange`` answers "which keys are at positions start..start+limit" without walking the
rows before ``start``. ``KeyList`` is the fallback for queries that had to scan.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Protocol

SortKey = tuple[int, ...]


class ResultSet(Protocol):
    def __len__(self) -> int: ...
    def keys(self, start: int, limit: int) -> list[int]: ...


class KeyList:
    """A materialised, ordered list of record keys."""

    def __init__(self, keys: Sequence[int]) -> None:
        self._keys = list(keys)

    def __len__(self) -> int:
        return len(self._keys)

    def keys(self, start: int, limit: int) -> list[int]:
        return self._keys[start : start + limit]


class MergedRange:
    """Base indices ``[lo, hi)`` minus ``excluded``, merged with ``extras`` by sort key.

    ``base_sort(i)`` must be strictly increasing in ``i``; ``extras`` is sorted by its sort keys
    and disjoint from the base part (extras are overlay rows, excluded are their base indices).
    """

    def __init__(
        self,
        lo: int,
        hi: int,
        excluded: Sequence[int],
        extras: Sequence[tuple[SortKey, int]],
        base_sort: Callable[[int], SortKey],
    ) -> None:
        self._lo, self._hi = lo, hi
        self._excluded = sorted(i for i in excluded if lo <= i < hi)
        self._extra_sorts = [s for s, _ in extras]
        self._extra_keys = [k for _, k in extras]
        self._base_sort = base_sort
        self._len = (hi - lo) - len(self._excluded) + len(extras)

    def __len__(self) -> int:
        return self._len

    def _before(self, i: int) -> int:
        """How many result elements sort before base index ``i`` (non-decreasing in ``i``)."""
        base = (i - self._lo) - bisect_left(self._excluded, i)
        return base + bisect_left(self._extra_sorts, self._base_sort(i))

    def keys(self, start: int, limit: int) -> list[int]:
        if limit <= 0 or start >= self._len:
            return []
        # Largest base index whose position is <= start: from there, at most the extras that
        # sort between two neighbouring base rows need skipping.
        i, pos = self._lo, 0
        if self._hi > self._lo and self._before(self._lo) <= start:
            lo, hi = self._lo, self._hi - 1
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self._before(mid) <= start:
                    lo = mid
                else:
                    hi = mid - 1
            i, pos = lo, self._before(lo)
        j = bisect_left(self._extra_sorts, self._base_sort(i)) if i < self._hi else len(self._extra_keys)
        if pos == 0 and i == self._lo:
            j = 0
        excluded, ex = self._excluded, bisect_left(self._excluded, i)
        out: list[int] = []
        n_extra = len(self._extra_keys)
        while len(out) < limit:
            while ex < len(excluded) and excluded[ex] == i and i < self._hi:
                i += 1
                ex += 1
            has_base = i < self._hi
            if not has_base and j >= n_extra:
                break
            if has_base and (j >= n_extra or self._base_sort(i) < self._extra_sorts[j]):
                key = i + 1
                i += 1
            else:
                key = self._extra_keys[j]
                j += 1
            if pos >= start:
                out.append(key)
            pos += 1
        return out
