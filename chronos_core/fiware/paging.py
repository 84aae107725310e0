"""Planning and collecting STH-Comet history page by page.

STH-Comet orders raw points oldest first and pages them with ``hOffset``/``hLimit`` (at most the
max page size per request). To read the ``last_n`` most recent of ``total`` points, start at offset
``total - last_n`` and read forward. Offsets count from the oldest point, so points appended while
collecting do not shift anything already planned; pages are grouped into chunks so that a million
points is a few hundred units of work, not ten thousand.

:func:`read_list_pages` reads the ``limit``/``offset`` lists of Orion, Orion-LD and the IoT Agent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chronos_core.domain.validation import check_int
from chronos_core.errors import Cancelled
from chronos_core.fiware.series import ObservationSeries, merge_series
from chronos_core.fiware.tenant import Tenant


@dataclass(frozen=True)
class PagePlan:
    """One request: ``h_limit`` points from ``h_offset``."""

    h_offset: int
    h_limit: int


@dataclass(frozen=True)
class ChunkPlan:
    """Consecutive pages covering ``h_limit`` points from ``h_offset``."""

    index: int
    h_offset: int
    h_limit: int
    pages: tuple[PagePlan, ...]


def collection_window(total: int, last_n: int | None) -> tuple[int, int]:
    """(first offset, number of points) of the ``last_n`` most recent of ``total`` points."""
    check_int(total, "total", 0)
    if last_n is None:
        return 0, total
    check_int(last_n, "last_n", 1)
    count = min(total, last_n)
    return total - count, count


def plan_pages(total: int, last_n: int | None, page_size: int) -> tuple[PagePlan, ...]:
    """Pages covering exactly the most recent ``last_n`` points (all when None), oldest first."""
    check_int(page_size, "page_size", 1)
    start, count = collection_window(total, last_n)
    return tuple(
        PagePlan(offset, min(page_size, start + count - offset))
        for offset in range(start, start + count, page_size)
    )


def plan_chunks(
    total: int, last_n: int | None, page_size: int, pages_per_chunk: int
) -> tuple[ChunkPlan, ...]:
    """:func:`plan_pages` grouped ``pages_per_chunk`` at a time into numbered chunks."""
    check_int(pages_per_chunk, "pages_per_chunk", 1)
    pages = plan_pages(total, last_n, page_size)
    groups = [
        pages[first : first + pages_per_chunk] for first in range(0, len(pages), pages_per_chunk)
    ]
    return tuple(
        ChunkPlan(index, group[0].h_offset, sum(page.h_limit for page in group), group)
        for index, group in enumerate(groups)
    )


@dataclass(frozen=True)
class HistoryPage:
    """One ``hOffset``/``hLimit`` page: ``received`` raw points, parsed into ``series``."""

    h_offset: int
    h_limit: int
    received: int
    series: ObservationSeries
    total: int | None = None


class PageReader(Protocol):
    """What :func:`collect_chunk` needs: :meth:`SthCometClient.fetch_page`."""

    def fetch_page(
        self,
        tenant: Tenant,
        entity_type: str,
        entity_id: str,
        attribute: str,
        h_offset: int,
        h_limit: int,
        *,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
    ) -> HistoryPage: ...


def collect_chunk(
    client: PageReader,
    tenant: Tenant,
    entity_type: str,
    entity_id: str,
    attribute: str,
    chunk: ChunkPlan,
    *,
    should_cancel: Callable[[], bool] | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
) -> ObservationSeries:
    """Read a chunk's pages in order and return their points, sorted and de-duplicated.

    ``should_cancel`` is checked before every request; when it returns True,
    :class:`~chronos_core.errors.Cancelled` is raised. A page that comes back shorter than asked
    is completed by asking for the rest from where it stopped; an empty answer means the data ends
    there. Dates must be the ones the chunk was planned with.
    """
    parts: list[ObservationSeries] = []
    for page in chunk.pages:
        offset, remaining = page.h_offset, page.h_limit
        while remaining > 0:
            if should_cancel is not None and should_cancel():
                raise Cancelled(
                    f"collecting {entity_id}.{attribute} was cancelled (chunk {chunk.index}, "
                    f"offset {offset})",
                    details={"chunk": chunk.index, "h_offset": offset},
                )
            result = client.fetch_page(
                tenant,
                entity_type,
                entity_id,
                attribute,
                offset,
                remaining,
                date_from=date_from,
                date_to=date_to,
            )
            parts.append(result.series)
            if result.received <= 0:
                break
            offset += result.received
            remaining -= result.received
    return merge_series(parts)


@dataclass(frozen=True)
class ListPage:
    """One page of a list: its objects, how many entries it had, and the total if told."""

    items: list[dict[str, Any]]
    received: int
    total: int | None = None


def read_list_pages(
    fetch: Callable[[int, int], ListPage],
    page_size: int,
    *,
    limit: int | None = None,
    short_page_ends: bool = False,
) -> list[dict[str, Any]]:
    """Every item of an offset-paged list (or the first ``limit``): ``fetch(offset, size)``
    reads one page. Stops at an empty page, when the server's total is reached, at a page
    shorter than asked when ``short_page_ends`` (a list without a total), or at a page longer
    than asked (the server ignored the limit and sent everything)."""
    items: list[dict[str, Any]] = []
    offset = 0
    while limit is None or len(items) < limit:
        size = page_size if limit is None else min(page_size, limit - len(items))
        page = fetch(offset, size)
        items.extend(page.items)
        offset += page.received
        if page.received == 0 or (page.total is not None and offset >= page.total):
            break
        if page.received > size or (short_page_ends and page.received < size):
            break
    return items
