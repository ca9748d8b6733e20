"""One report per burst of edits: wait, bounded, for the writes to stop. Pure."""

from __future__ import annotations

from typing import Callable, Iterable, List

#: A git checkout or an editor's "save all" writes its files within
#: milliseconds of each other, so 0.1 s of quiet ends a burst, and it is all a
#: single save pays. Files written while the reload runs are simply loaded by
#: the new code.
SETTLE = 0.1
#: A file written without pause (a log matched by a glob) still gets reported.
SETTLE_LIMIT = 3.0


def settle_burst(
    first: Iterable[str],
    scan: Callable[[], List[str]],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    settle: float = SETTLE,
    limit: float = SETTLE_LIMIT,
) -> List[str]:
    """Every file of the burst that *first* opened, once *settle* s passed without a change.

    *scan* is called every *settle* seconds and returns the files changed since
    its previous call; the wait ends at the latest *limit* s after it began.
    """
    burst = set(first)
    start = last_change = clock()
    while True:
        sleep(settle)
        more = scan()
        now = clock()
        if more:
            burst.update(more)
            last_change = now
        if now - last_change >= settle or now - start >= limit:
            return sorted(burst)
