"""Order changes driven by the control API: creation, status changes, line cancellation."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from marketplace_sim.state import Account, IdSource, SimLine, SimPackage
from marketplace_sim.statuses import cancelled_raw, to_raw


@dataclass(frozen=True, slots=True)
class NewLine:
    """A line as the control API receives it."""

    sku: str
    quantity: int
    unit_price: Decimal
    currency: str
    barcode: str | None = None
    product_name: str | None = None


def create_order(
    account: Account,
    ids: IdSource,
    order_number: str,
    status: str,
    lines: list[NewLine],
    *,
    created_ms: int,
    modified_ms: int | None = None,
) -> SimPackage:
    """Add an order as one package; ValueError for an unknown status or a duplicate number."""
    raw = to_raw(account.platform, status)
    if order_number in account.orders.by_number:
        raise ValueError(f"order {order_number} already exists")
    sim_lines = []
    for line in lines:
        listing = account.listings.get(line.sku)
        sim_lines.append(
            SimLine(
                line_id=50_000_000 + ids.next("line"),
                sku=line.sku,
                barcode=line.barcode or (listing.barcode if listing else line.sku),
                product_name=line.product_name
                or (listing.title if listing else f"Urun {line.sku}"),
                quantity=line.quantity,
                unit_price=line.unit_price,
                currency=line.currency,
            )
        )
    package_id = 10_000_000 + ids.next("package")
    modified = created_ms if modified_ms is None else modified_ms
    pkg = SimPackage(
        package_id=package_id,
        order_number=order_number,
        status=raw,
        lines=sim_lines,
        created_ms=created_ms,
        modified_ms=modified,
        history=[(created_ms, raw)],
        cargo_tracking_number=f"733{package_id}",
    )
    account.orders.add(pkg)
    return pkg


def change_status(account: Account, order_number: str, status: str, now_ms: int) -> None:
    """Move every live package of an order to a new status."""
    raw = to_raw(account.platform, status)
    packages = _live(account, order_number)
    for pkg in packages:
        account.orders.touch(pkg, raw, max(now_ms, pkg.modified_ms))


def cancel_lines(
    account: Account, ids: IdSource, order_number: str, cancels: dict[str, int | None], now_ms: int
) -> None:
    """Cancel quantities of lines by SKU (None = all that is left).

    Trendyol rebuilds the package: the old one keeps the cancelled quantities and becomes
    `Cancelled`, a new package with a new id, `createdBy=cancel` and `originPackageIds` carries
    the rest. The other platforms mark the quantity cancelled on the line and cancel the order
    once nothing is left.
    """
    packages = _live(account, order_number)
    known = {line.sku for pkg in packages for line in pkg.lines}
    missing = set(cancels) - known
    if missing:
        raise ValueError(f"order {order_number} has no line for {sorted(missing)[0]}")
    # What is still to cancel per SKU: one requested quantity is consumed across every line
    # (and live package) carrying that SKU, never applied to each of them again.
    left: dict[str, int | None] = dict(cancels)
    for pkg in packages:
        if account.platform == "trendyol":
            _split_trendyol(account, ids, pkg, left, now_ms)
        else:
            _cancel_in_place(account, pkg, left, now_ms)


def _live(account: Account, order_number: str) -> list[SimPackage]:
    packages = account.orders.of_order(order_number)
    if not packages:
        raise KeyError(order_number)
    cancelled = cancelled_raw(account.platform)
    live = [p for p in packages if p.status not in {cancelled, "UnPacked"}]
    return live or packages


def _split_trendyol(
    account: Account, ids: IdSource, pkg: SimPackage, left: dict[str, int | None], now_ms: int
) -> None:
    kept: list[SimLine] = []
    dropped: list[SimLine] = []
    for line in pkg.lines:
        wanted = left.get(line.sku, 0)
        quantity = line.quantity if wanted is None else min(wanted, line.quantity)
        if wanted is not None and line.sku in left:
            left[line.sku] = wanted - quantity
        # Each copy carries only its own units, so its amount (unit price x quantity) and
        # the package totals rendered from it are those of the cancelled / kept units.
        if quantity > 0:
            dropped.append(_copy(line, quantity))
        if line.quantity - quantity > 0:
            kept.append(_copy(line, line.quantity - quantity))
    if not dropped:
        return
    modified = max(now_ms, pkg.modified_ms)
    if not kept:
        account.orders.touch(pkg, "Cancelled", modified)
        return
    previous_status = pkg.status
    pkg.lines = dropped
    account.orders.touch(pkg, "Cancelled", modified)
    package_id = 10_000_000 + ids.next("package")
    account.orders.add(
        SimPackage(
            package_id=package_id,
            order_number=pkg.order_number,
            status=previous_status,
            lines=kept,
            created_ms=pkg.created_ms,
            modified_ms=modified,
            origin_package_ids=[pkg.package_id],
            created_by="cancel",
            history=[(modified, previous_status)],
            cargo_tracking_number=f"733{package_id}",
        )
    )


def _cancel_in_place(
    account: Account, pkg: SimPackage, left: dict[str, int | None], now_ms: int
) -> None:
    for line in pkg.lines:
        if line.sku in left:
            wanted = left[line.sku]
            quantity = line.active_quantity if wanted is None else min(wanted, line.active_quantity)
            line.cancelled += quantity
            if wanted is not None:
                left[line.sku] = wanted - quantity
    everything_cancelled = all(line.active_quantity == 0 for line in pkg.lines)
    status = cancelled_raw(account.platform) if everything_cancelled else pkg.status
    account.orders.touch(pkg, status, max(now_ms, pkg.modified_ms))


def _copy(line: SimLine, quantity: int) -> SimLine:
    return SimLine(
        line.line_id,
        line.sku,
        line.barcode,
        line.product_name,
        quantity,
        line.unit_price,
        line.currency,
    )
