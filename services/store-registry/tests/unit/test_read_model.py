"""The read model alone: dirty marks, re-reads, ordering and keyset pages."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from store_registry.app.ports import StoreQuery, StoreView
from store_registry.app.read_model import StoreReadModel
from store_registry.domain.api_status import ApiStatusView
from store_registry.domain.model import OrderSettings, ProductSettings, StoreState

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import AutoUpdateType, StoreStatus

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def view(store_id: str, seconds: int, version: int = 1, title: str = "Shop") -> StoreView:
    state = StoreState(
        id=store_id,
        title=title,
        platform=Platform.TRENDYOL,
        status=StoreStatus.ACTIVE,
        test_mode=False,
        store_url=None,
        products=ProductSettings(None, None, None, False, AutoUpdateType.STOCK),
        orders=OrderSettings(False, None, None, False),
        version=version,
        created_at=T0 + timedelta(seconds=seconds),
        updated_at=T0,
    )
    return StoreView(state, ApiStatusView.unknown())


def model_of(*views: StoreView) -> StoreReadModel:
    model = StoreReadModel(lambda v: f"{v.state.id}:{v.state.version}".encode())
    model.load(views)
    return model


def ids(model: StoreReadModel, query: StoreQuery) -> list[str]:
    page = model.page(query)
    assert page is not None
    return [e.view.state.id for e in page]


def test_nothing_is_answered_before_load_or_after_clear() -> None:
    model = StoreReadModel(lambda v: b"")
    assert model.get("a") is None
    assert model.page(StoreQuery(limit=5)) is None
    model.load([view("a", 1)])
    assert model.get("a") is not None
    model.clear()
    assert model.get("a") is None
    assert model.page(StoreQuery(limit=5)) is None


def test_entries_carry_body_and_etag() -> None:
    entry = model_of(view("a", 1, version=7)).get("a")
    assert entry is not None
    assert (entry.body, entry.etag) == (b"a:7", b'"7"')


def test_pages_follow_creation_then_id_after_the_keyset_position() -> None:
    model = model_of(view("c", 2), view("b", 1), view("a", 2), view("d", 3))
    assert ids(model, StoreQuery(limit=10)) == ["b", "a", "c", "d"]
    assert ids(model, StoreQuery(limit=2)) == ["b", "a"]
    assert ids(model, StoreQuery(limit=10, after=(T0 + timedelta(seconds=2), "a"))) == ["c", "d"]


def test_text_filter_and_dirty_stores_go_to_the_database() -> None:
    model = model_of(view("a", 1))
    assert model.page(StoreQuery(limit=5, text="shop")) is None
    model.mark_dirty("a")
    assert model.get("a") is None
    assert model.page(StoreQuery(limit=5)) is None


def test_a_dirty_mark_is_cleared_only_by_a_re_read_started_after_it() -> None:
    told: list[str] = []
    model = model_of(view("a", 1))
    model.on_dirty = told.append
    early = model.marks(["a"])  # a re-read that started before the write
    model.mark_dirty("a")
    assert told == ["a"]
    model.apply(early, {"a": view("a", 1)})
    assert model.get("a") is None
    later = model.marks(["a"])
    model.apply(later, {"a": view("a", 1, version=2)})
    entry = model.get("a")
    assert entry is not None
    assert entry.etag == b'"2"'


def test_apply_adds_replaces_and_drops() -> None:
    model = model_of(view("a", 1), view("b", 2))
    model.apply(
        model.marks(["a", "b", "c"]),
        {"a": dataclasses.replace(view("a", 1, version=3)), "c": view("c", 0)},
    )
    assert model.get("b") is None
    assert len(model) == 2
    assert ids(model, StoreQuery(limit=10)) == ["c", "a"]
    entry = model.get("a")
    assert entry is not None
    assert entry.body == b"a:3"


def test_state_at_answers_only_the_exact_version_held_also_while_dirty() -> None:
    model = model_of(view("a", 1, version=3))
    held = model.state_at("a", 3)
    assert held is not None
    assert held.version == 3
    assert model.state_at("a", 2) is None
    assert model.state_at("a", 4) is None
    assert model.state_at("b", 1) is None
    model.mark_dirty("a")
    assert model.state_at("a", 3) is not None  # the write that trusts it checks the version


def test_state_at_knows_what_this_process_committed_until_the_re_read() -> None:
    model = model_of(view("a", 1, version=3))
    committed = dataclasses.replace(view("a", 1, version=4, title="Mine").state)
    model.mark_dirty("a", committed)
    assert model.state_at("a", 4) is committed
    assert model.state_at("a", 3) is not None  # still held in the entries too
    # The HTTP layer's check of the answer (ETag 4) keeps the committed one.
    model.answered("a", 4)
    assert model.state_at("a", 4) is committed
    model.apply(model.marks(["a"]), {"a": view("a", 1, version=4, title="Mine")})
    reread = model.state_at("a", 4)
    assert reread is not None
    assert reread is not committed
    assert reread.title == "Mine"
    model.clear()
    assert model.state_at("a", 4) is None


def test_a_body_is_rendered_once_when_first_read_and_never_for_an_unread_version() -> None:
    rendered: list[tuple[str, int]] = []

    def render(v: StoreView) -> bytes:
        rendered.append((v.state.id, v.state.version))
        return f"{v.state.id}:{v.state.version}".encode()

    model = StoreReadModel(render)
    model.load([view("a", 1)])
    model.apply({"a": None}, {"a": view("a", 1, version=2)})
    model.apply({"a": None}, {"a": view("a", 1, version=3)})
    assert rendered == []
    entry = model.get("a")
    assert entry is not None
    assert (entry.body, entry.body, entry.etag) == (b"a:3", b"a:3", b'"3"')
    assert rendered == [("a", 3)]


def state(store_id: str, version: int, title: str = "Shop", seconds: int = 1) -> StoreState:
    return view(store_id, seconds, version=version, title=title).state


def test_announced_rows_replace_held_stores_keeping_their_api_status() -> None:
    valid = ApiStatusView(ApiStatus.VALID, None, None, T0, False)
    model = model_of(StoreView(state("a", 1), valid), view("b", 2))
    unknown = model.apply_rows({"a": state("a", 2, "New"), "c": state("c", 1)})
    assert unknown == ["c"]  # not held: its API status is not known here, read it
    entry = model.get("a")
    assert entry is not None
    assert (entry.view.state.title, entry.etag, entry.view.api_status) == ("New", b'"2"', valid)
    assert model.get("c") is None


def test_an_announced_row_older_than_the_held_one_is_skipped() -> None:
    model = model_of(view("a", 1, version=5))
    assert model.apply_rows({"a": state("a", 4, "Old")}) == []
    entry = model.get("a")
    assert entry is not None
    assert entry.etag == b'"5"'


def test_a_write_is_clean_once_its_announced_row_is_applied() -> None:
    told: list[str] = []
    model = model_of(view("a", 1, version=1))
    model.on_dirty = told.append
    model.mark_dirty("a", state("a", 3, "Mine"))  # this process committed version 3
    assert model.get("a") is None
    assert told == []  # nothing read again: the commit's notification is on its way
    model.apply_rows({"a": state("a", 2)})  # an earlier write's row: still not ours
    assert model.get("a") is None
    model.apply_rows({"a": state("a", 3, "Mine")})
    entry = model.get("a")
    assert entry is not None
    assert entry.view.state.title == "Mine"
    # A row applied before the writer marked its commit: nothing to wait for.
    model.apply_rows({"a": state("a", 4)})
    model.mark_dirty("a", state("a", 4))
    assert model.get("a") is not None


def test_a_re_read_that_already_sees_this_processs_write_cleans_it() -> None:
    model = model_of(view("a", 1, version=1))
    early = model.marks(["a"])  # a re-read that started before this process marked its write
    model.mark_dirty("a", state("a", 2))
    model.apply(early, {"a": view("a", 1, version=2)})
    assert model.get("a") is not None


def test_a_deleted_store_is_read_again_and_a_later_row_of_an_earlier_write_does_not_clean_it() -> (
    None
):
    told: list[str] = []
    model = model_of(view("a", 1, version=1))
    model.on_dirty = told.append
    model.mark_dirty("a", state("a", 2))
    model.mark_dirty("a")  # then this process deleted it
    assert told == ["a"]
    model.apply_rows({"a": state("a", 2)})  # the update's notification comes after the mark
    assert model.get("a") is None
    model.apply(model.marks(["a"]), {})
    assert model.get("a") is None
    assert len(model) == 0


def test_an_answer_without_a_version_or_newer_than_held_is_read_again() -> None:
    told: list[str] = []
    model = model_of(view("a", 1, version=2))
    model.on_dirty = told.append
    model.answered("a", 2)  # held already
    assert (told, model.get("a") is not None) == ([], True)
    model.answered("a", None)  # an error answer to a write: read it again
    assert (told, model.get("a")) == (["a"], None)
    model.answered("b", 1)  # created elsewhere in this process without a marked commit
    assert told == ["a", "b"]
