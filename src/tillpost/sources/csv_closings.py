"""A till's closings exported as CSV, read with a YAML column mapping (SPEC §11).

The mapping (`schemas/csv-mapping.schema.json`, with `closing` and `counts` where a
receipts export has `receipt` and `line`) says which column holds what. One row per
payment method counted, or per movement; the closing's own columns (id, date,
store, register, closing time, opening float) are repeated on each of its rows:

    Afsluiting;Datum;Kassa;Beginsaldo;Soort;Betaalwijze;Verwacht;Geteld;Bedrag;Omschrijving
    Z-1120-K1;20-11-2026;K1;150,00;;Contant;412,35;410,35;;
    Z-1120-K1;20-11-2026;K1;150,00;Afstorting;Contant;;;-300,00;Bank

A row whose movement kind column (`movements.kind`) is filled is a movement of
`movements.amount` (money out of the drawer negative), its kind mapped by
`movement_kinds`; any other row with a payment type is a count. Payment types map
to methods like a receipts export's (`source NAME payment "Contant" -> cash`).
"""

from __future__ import annotations

from .closing_records import ClosingSourceError, MOVEMENT_KINDS, closing_record
from .mapping import SourceError, iso, local


def convert(rows: list, mapping: dict, reader, mapper, zone):
    """(closing id, closing dict | ClosingSourceError) per closing of the export's rows."""
    id_col = mapping["closing"]["id"]
    closings: dict[str, list[tuple[int, dict]]] = {}
    for n, row in rows:
        cid = (row.get(id_col) or "").strip()
        if not cid:
            yield f"{mapper.source}:row{n}", ClosingSourceError(f"CSV row {n} has no closing id in column '{id_col}'")
            continue
        closings.setdefault(cid, []).append((n, row))
    for cid, group in closings.items():
        first, last = group[0][0], group[-1][0]
        where = f"row {first}" if first == last else f"rows {first}-{last}"
        try:
            yield cid, _closing(cid, group, mapping, reader, mapper, zone)
        except SourceError as e:
            yield cid, ClosingSourceError(f"CSV closing {cid} ({where}): " + "; ".join(e.reasons))
        except (TypeError, ValueError, KeyError, ArithmeticError) as e:
            yield cid, ClosingSourceError(f"CSV closing {cid} ({where}): cannot be read: {type(e).__name__}: {e}")


def columns(mapping: dict) -> list[str]:
    cols = list(mapping["closing"].values()) + list(mapping["counts"].values())
    return cols + list((mapping.get("movements") or {}).values())


def _closing(cid: str, group: list, mapping: dict, reader, mapper, zone) -> dict:
    problems: list[str] = []
    cc, counts_cols, moves = mapping["closing"], mapping["counts"], mapping.get("movements") or {}
    kinds = mapping.get("movement_kinds") or {k: k for k in MOVEMENT_KINDS}
    head = group[0][1]

    def col(row: dict, key: str, columns: dict = cc) -> str:
        name = columns.get(key)
        return (row.get(name) or "").strip() if name else ""

    defaults = mapping.get("defaults") or {}
    store = col(head, "store") or defaults.get("store")
    if not store:
        problems.append("it has no store (map a store column or give defaults.store)")
    register = col(head, "register") or defaults.get("register")
    float_method = mapper.method(mapping["float_payment_type"], problems) if mapping.get("float_payment_type") \
        else "cash"
    opening = reader.number(col(head, "float_opening"), "float_opening") if cc.get("float_opening") else None
    closing = reader.number(col(head, "float_closing"), "float_closing") if cc.get("float_closing") else None

    counts, movements = [], []
    for n, row in group:
        try:
            kind = col(row, "kind", moves) if moves else ""
            if kind:
                if kind not in kinds:
                    problems.append(f"row {n}: movement kind {kind!r} is not one of the mapping's movement_kinds")
                    continue
                amount = reader.number(col(row, "amount", moves), f"row {n} movement amount")
                if amount is None:
                    problems.append(f"row {n}: a movement without an amount")
                    continue
                type_name = col(row, "method", moves)
                method = mapper.method(type_name, problems) if type_name else float_method
                movements.append((kinds[kind], method, amount, col(row, "reason", moves)))
                continue
            type_name = col(row, "method", counts_cols)
            if not type_name:
                continue
            expected = reader.number(col(row, "expected", counts_cols), f"row {n} expected")
            counted = reader.number(col(row, "counted", counts_cols), f"row {n} counted")
            if expected is None or counted is None:
                problems.append(f"row {n}: the count of {type_name} needs both the expected and the counted amount")
                continue
            counts.append((mapper.method(type_name, problems), expected, counted))
        except SourceError as e:
            problems.extend(e.reasons)
    try:
        date = reader.date(col(head, "date")).isoformat()
        closed = iso(local(reader.moment(col(head, "closed")), zone)) if col(head, "closed") else None
    except SourceError as e:
        problems.extend(e.reasons)
    if problems:
        raise SourceError(problems)
    return closing_record(id=cid, source=mapper.source, store=store, register=register, date=date, closed=closed,
                          currency=mapping.get("currency", "EUR"), counts=counts, movements=movements,
                          float_opening=opening, float_closing=closing,
                          float_method=float_method if opening is not None and float_method != "cash" else None)
