"""Per-process read model of the stores: every store's view and its rendered JSON, in memory.

No I/O here: `adapters.store_listener` fills it from PostgreSQL and keeps it current from the
tables' NOTIFY triggers. A read it cannot answer for sure (not loaded, a store this process
just wrote and has not re-read yet, a store it does not hold) returns None and the caller asks
the database, so the model can only make a read faster, never different.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable
from datetime import datetime

from store_registry.app.ports import StoreQuery, StoreView
from store_registry.domain.model import StoreState


class StoreEntry:
    """One store as the API renders it: the view, its JSON body and its ETag.

    The body is rendered when first asked for, then kept: a store written again before anyone
    read it (the common case while an ERP pushes settings) is never rendered for nothing.
    """

    __slots__ = ("_body", "_render", "etag", "view")

    def __init__(self, view: StoreView, render: Callable[[StoreView], bytes]) -> None:
        self.view = view
        self.etag = f'"{view.state.version}"'.encode()
        self._render: Callable[[StoreView], bytes] | None = render
        self._body = b""

    @property
    def body(self) -> bytes:
        """The store's JSON, as the API answers it."""
        render = self._render
        if render is not None:
            self._body, self._render = render(self.view), None
        return self._body


class StoreReadModel:
    """Every store's view, ordered like the listing (creation time, then id)."""

    def __init__(self, render: Callable[[StoreView], bytes]) -> None:
        self._render = render
        self._entries: dict[str, StoreEntry] = {}
        self._order: list[tuple[datetime, str]] = []
        self._dirty: dict[str, int] = {}
        self._written: dict[str, StoreState] = {}
        self._marks = itertools.count(1)
        self.ready = False
        self.on_dirty: Callable[[str], None] | None = None
        """Told of a store marked dirty (the listener re-reads it)."""

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget everything; reads go to the database until `load`."""
        self.ready = False
        self._entries.clear()
        self._order.clear()
        self._dirty.clear()
        self._written.clear()

    def load(self, views: Iterable[StoreView]) -> None:
        """Replace the content with `views` (every store) and start answering reads."""
        self.clear()
        for view in views:
            self._entries[view.state.id] = self._entry(view)
        self._order = sorted((e.view.state.created_at, i) for i, e in self._entries.items())
        self.ready = True

    def mark_dirty(self, store_id: str, committed: StoreState | None = None) -> None:
        """This process wrote `store_id`: read it from the database until it is re-read.

        `committed`: the state this process's commit wrote, kept for `state_at` until the
        model holds that version (the next write to the store usually comes before); the
        store is clean again when its notification (sent on commit) is applied. None (it
        deleted the store, or what it wrote is not known): the store is read again now.
        """
        if committed is None:  # deleted, or not known: read it again
            self._written.pop(store_id, None)
            self._dirty[store_id] = next(self._marks)
            if self.on_dirty is not None:
                self.on_dirty(store_id)
            return
        entry = self._entries.get(store_id)
        if entry is not None and entry.view.state.version >= committed.version:
            return  # its notification was applied already
        # Clean again once the entry reaches this version: the write's notification does it
        # (it is sent on commit, before this call, and not yet applied).
        self._dirty[store_id] = next(self._marks)
        self._written[store_id] = committed

    def answered(self, store_id: str, version: int | None) -> None:
        """A write to `store_id` was answered with this version (None: not a success or no
        version given): unless the model holds it or its commit was marked, read it again."""
        if version is not None:
            entry = self._entries.get(store_id)
            written = self._written.get(store_id)
            if (entry is not None and entry.view.state.version >= version) or (
                written is not None and written.version >= version
            ):
                return
        self.mark_dirty(store_id)

    def marks(self, store_ids: Iterable[str]) -> dict[str, int | None]:
        """The dirty marks of `store_ids` before they are re-read (see `apply`)."""
        return {store_id: self._dirty.get(store_id) for store_id in store_ids}

    def apply(self, marks: dict[str, int | None], views: dict[str, StoreView]) -> None:
        """Stores re-read from the database after `marks` was taken: absent from `views` = gone.

        A dirty mark is cleared only when it is the one taken before the re-read, i.e. the
        re-read started after this process's write.
        """
        for store_id, mark in marks.items():
            view = views.get(store_id)
            old = self._entries.pop(store_id, None)
            if old is not None:
                self._remove_key((old.view.state.created_at, store_id))
            if view is not None:
                self._entries[store_id] = self._entry(view)
                bisect.insort(self._order, (view.state.created_at, store_id))
            if mark is not None and self._dirty.get(store_id) == mark:
                del self._dirty[store_id]
                self._written.pop(store_id, None)
            elif view is not None:
                self._clean_if_caught_up(store_id, view.state.version)

    def apply_rows(self, states: dict[str, StoreState]) -> list[str]:
        """Store rows announced with their content (inserted or updated), newest per store.

        Each keeps the API status the model holds for the store: a change of the status is
        announced on its own, and notifications come in commit order, so the status held is
        the one that was current when the row was written, or newer. A row older than the
        one held is skipped (a re-read may already have seen a later version). Returns the
        stores the model cannot update this way (not held: a new store, whose API status it
        does not know), to be re-read.
        """
        unknown: list[str] = []
        for store_id, state in states.items():
            old = self._entries.get(store_id)
            if old is None:
                unknown.append(store_id)
                continue
            held = old.view.state
            if held.version > state.version:
                continue
            if held.created_at != state.created_at:
                self._remove_key((held.created_at, store_id))
                bisect.insort(self._order, (state.created_at, store_id))
            self._entries[store_id] = self._entry(StoreView(state, old.view.api_status))
            self._clean_if_caught_up(store_id, state.version)
        return unknown

    def _clean_if_caught_up(self, store_id: str, version: int) -> None:
        """Stop reading `store_id` from the database once the model holds this process's
        write of it (or a later version)."""
        written = self._written.get(store_id)
        if written is not None and written.version <= version:
            self._dirty.pop(store_id, None)
            del self._written[store_id]

    def get(self, store_id: str) -> StoreEntry | None:
        """The store, or None when the database must answer (also when there is no such store)."""
        if not self.ready or store_id in self._dirty:
            return None
        return self._entries.get(store_id)

    def committed(self, store_id: str, version: int | None) -> StoreState | None:
        """The state this process committed for the store at `version`, if it is waiting to
        see that version (`mark_dirty(committed=...)`)."""
        written = self._written.get(store_id)
        return written if written is not None and written.version == version else None

    def state_at(self, store_id: str, version: int) -> StoreState | None:
        """The store's state if the model holds it at exactly `version` (a `KnownStores`).

        Unlike `get`, also while the store is marked dirty, and also the state this process
        committed last (`mark_dirty(committed=...)`) before it is re-read: a write that trusts
        this state commits only if the database is still at `version`, and a version is
        never reused, so the state held for it is the state the database had at it.
        """
        written = self.committed(store_id, version)
        if written is not None:
            return written
        entry = self._entries.get(store_id)
        if entry is None or entry.view.state.version != version:
            return None
        return entry.view.state

    def page(self, query: StoreQuery) -> list[StoreEntry] | None:
        """Up to `query.limit` stores matching the filters after the keyset position, or None.

        None (ask the database) while not loaded, while a store written here is not re-read,
        and for the text filter: `ILIKE` follows the database's case rules, not Python's.
        """
        if not self.ready or self._dirty or query.text is not None:
            return None
        start = 0 if query.after is None else bisect.bisect_right(self._order, query.after)
        found: list[StoreEntry] = []
        for key in itertools.islice(self._order, start, None):
            entry = self._entries[key[1]]
            state = entry.view.state
            if (
                (query.platform is None or state.platform is query.platform)
                and (query.status is None or state.status is query.status)
                and (query.api_status is None or entry.view.api_status.status is query.api_status)
            ):
                found.append(entry)
                if len(found) == query.limit:
                    break
        return found

    def _entry(self, view: StoreView) -> StoreEntry:
        return StoreEntry(view, self._render)

    def _remove_key(self, key: tuple[datetime, str]) -> None:
        index = bisect.bisect_left(self._order, key)
        if index < len(self._order) and self._order[index] == key:
            del self._order[index]
