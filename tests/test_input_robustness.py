"""Issue 10, the input half: every valid input books, every bad input gets a clear answer.

Each test feeds real files through the real command line (`tillpost.cli.main`, the
entry point of the installed command) or the engine, and names the item of the issue
it covers. None of these inputs may end in exit 3 (an internal error).
"""

from __future__ import annotations

import json
import os
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from tillpost.api import book, canonical, compile_text, load_rules, parse_input
from tillpost.cli import main
from tillpost.engine.receipts import InputError, Records

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "tillpost" / "rules" / "examples"
BAKERY = EXAMPLES / "bakery.rules"
TARGETS = EXAMPLES / "bakery-targets.rules"

RULES = """
client "Test" currency EUR counter debtor "BALIE"
journal KAS cash "Kas"  journal VRK sales "Verkoop"
account kas 1000 "Kas"  account deb 1300 "Debiteuren" debtors
account hoog 1520 "BTW hoog"  account laag 1521 "BTW laag"  account omzet 8000 "Omzet"
account afronding 8990 "Afronding"
vat high 21% code "VH"  vat low 6% code "VL"
method cash turnover  method invoice individual
when sale post VRK deb -> omzet
when tax vat=high post VRK deb -> hoog
when tax vat=low post VRK deb -> laag
when payment method=cash post KAS kas -> deb
when payment method=invoice skip
when cost skip  when rounding post KAS afronding -> deb  when difference skip  when movement skip
"""


@pytest.fixture(scope="module")
def rules():
    ruleset, d = compile_text(RULES)
    assert ruleset is not None, d.format()
    return ruleset


@pytest.fixture()
def rules_file(tmp_path):
    path = tmp_path / "test.rules"
    path.write_text(RULES, encoding="utf-8")
    return path


def receipt(rid="R1", price="12.10", rate="high", paid=None, **extra) -> dict:
    r = {"id": rid, "store": "S1", "register": "K1", "date": "2026-11-20", "status": "completed", "currency": "EUR",
         "prices_include_vat": True, "lines": [{"description": "Koffie", "quantity": "1", "unit_price": price,
                                                "vat": rate}],
         "payments": [{"method": "cash", "amount": paid or price}]}
    r.update(extra)
    return r


def run(*args, stdin: bytes | None = None, capsys=None, monkeypatch=None) -> tuple[int, str, str]:
    """`tillpost ARGS` in this process, through the installed command's entry point."""
    if stdin is not None:
        import io
        import sys

        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def errors_of(result) -> dict:
    return {e.receipt: e.message for e in result.errors}


# -- 4. a receipt file that is not UTF-8; a byte order mark ---------------------------------------

CAFE_CP1252 = (b'[{"id": "R1", "store": "S1", "date": "2026-11-20", "status": "completed", "currency": "EUR",\n'
               b' "prices_include_vat": true, "lines": [{"description": "caf\xe9", "quantity": "1", '
               b'"unit_price": "12.10", "vat": "high"}], "payments": [{"method": "cash", "amount": "12.10"}]}]\n')


def test_a_file_that_is_not_utf8_is_the_inputs_error_with_line_column_and_offset(tmp_path, rules_file, capsys):
    path = tmp_path / "export.json"
    path.write_bytes(CAFE_CP1252)
    offset = CAFE_CP1252.index(b"\xe9")
    column = offset - CAFE_CP1252.index(b"\n")
    expected = (f"{path}:2:{column}: error: not UTF-8: byte 0xE9 at byte offset {offset} is not valid UTF-8; save "
                f"the file as UTF-8 (read as Windows-1252 it says")
    for command in (["book", rules_file, path], ["explain", rules_file, path, "--receipt", "R1"],
                    ["process", rules_file, path, "--db", tmp_path / "l.sqlite", "--final"]):
        code, out, err = run(*command, capsys=capsys)
        assert code == 2 and err.startswith(expected) and "café" in err, (command, err)
        assert "internal error" not in err
    assert not (tmp_path / "l.sqlite").exists() or _booked(tmp_path / "l.sqlite") == 0


def _booked(db) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("select count(*) from receipts").fetchone()[0]


def test_watch_moves_a_file_that_is_not_utf8_to_failed_and_books_the_next(tmp_path):
    from tillpost.ledger.watch import Watcher

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a-cp1252.json").write_bytes(CAFE_CP1252)
    (inbox / "b-good.json").write_text(json.dumps([receipt("R2")]), encoding="utf-8")
    lines = []
    watcher = Watcher(compile_text(RULES)[0], "test.rules", str(inbox), str(tmp_path / "l.sqlite"), 0,
                      log=lines.append)
    watcher.run(once=True)
    assert "2 files (1 done, 1 failed)" in lines[0] and "1 booked" in lines[0]
    assert sorted(os.listdir(inbox / "failed")) == ["a-cp1252.json", "a-cp1252.json.reason"]
    assert "not UTF-8: byte 0xE9" in (inbox / "failed" / "a-cp1252.json.reason").read_text(encoding="utf-8")


def test_a_utf8_byte_order_mark_is_accepted(tmp_path, rules_file, capsys):
    doc = json.dumps([receipt("R1")]).encode()
    lines = "\n".join(json.dumps(receipt(f"R{i}")) for i in (1, 2)).encode()
    for name, data in (("doc.json", doc), ("lines.jsonl", lines)):
        path = tmp_path / name
        path.write_bytes(b"\xef\xbb\xbf" + data)
        code, out, err = run("book", rules_file, path, capsys=capsys)
        assert code == 0 and err == "", err
        assert json.loads(out) == json.loads(_book_out(rules_file, data, tmp_path, capsys))


def _book_out(rules_file, data: bytes, tmp_path, capsys) -> str:
    path = tmp_path / "plain.json"
    path.write_bytes(data)
    return run("book", rules_file, path, capsys=capsys)[1]


# -- 6. printed VAT that cannot come from the declared rate --------------------------------------


def test_printed_vat_the_rate_cannot_explain_is_an_error_with_both_figures(rules):
    result = book(rules, [
        receipt("R1", price="12.95", vat=[{"name": "high", "amount": "2.00"}]),
        receipt("R2", price="109.00", paid="109.00", **{"lines": [
            {"quantity": "1", "unit_price": "109.00", "vat": "low"}], "vat": [{"name": "low", "amount": "9.00"}]}),
        receipt("R3", price="12.95", vat=[{"name": "high", "amount": "2.25"}]),
    ])
    assert errors_of(result) == {
        "R1": "printed VAT high 2.00 cannot come from 21% of 12.95 (incl. VAT): that is 2.25, and rounding per line "
              "explains at most 0.01 (1 line(s) of VAT high)",
        "R2": "printed VAT low 9.00 cannot come from 6% of 109.00 (incl. VAT): that is 6.17, and rounding per line "
              "explains at most 0.01 (1 line(s) of VAT low)"}
    # Only the receipt whose VAT agrees with its rate reaches the books, so no target writes a VAT
    # amount that contradicts its percentage.
    assert {rid for e in result.entries for rid in e.receipts} == {"R3"}


def test_printed_vat_that_rounding_per_line_explains_is_taken_as_printed(rules):
    # Three lines of 1.00 at 21%: per line round(1.00 × 21/121) = 0.17, printed 0.51; on the total 0.52.
    three = [{"quantity": "1", "unit_price": "1.00", "vat": "high"}] * 3
    ok = receipt("R1", price="3.00", lines=three, vat=[{"name": "high", "amount": "0.51"}])
    off_by_more = receipt("R2", price="3.00", lines=three, vat=[{"name": "high", "amount": "0.48"}])
    # Excl. VAT, three lines of 0.50: per line round(0.105) = 0.11, printed 0.33; on the total 0.32.
    halves = [{"quantity": "1", "unit_price": "0.50", "vat": "high"}] * 3
    excl = receipt("R3", prices_include_vat=False, lines=halves, paid="1.83", vat=[{"name": "high", "amount": "0.33"}])
    no_line = receipt("R4", vat=[{"name": "high", "amount": "2.10"}, {"name": "low", "amount": "0.50"}])
    result = book(rules, [ok, off_by_more, excl, no_line])
    assert errors_of(result) == {
        "R2": "printed VAT high 0.48 cannot come from 21% of 3.00 (incl. VAT): that is 0.52, and rounding per line "
              "explains at most 0.03 (3 line(s) of VAT high)",
        "R4": "printed VAT low 0.50, but no line has VAT low"}
    tax = {(b.receipt.id, s.credit[0]): a for b in book(rules, [ok, excl], keep_bookings=True).bookings
           for s, a in b.postings if s.credit[0] == "1520"}
    assert tax == {("R1", "1520"): Decimal("0.51"), ("R3", "1520"): Decimal("0.33")}


# -- 8. explain several, a selection not in the input, an empty input, a `receipt` typo -----------


def test_explain_explains_every_receipt_named(tmp_path, capsys):
    code, out, err = run("explain", BAKERY, EXAMPLES / "bakery-day.json", "--receipt", "WEB-W1-9001",
                         "--receipt", "AMS01-K1-1001,AMS01-K1-1002", capsys=capsys)
    assert code == 0, err
    heads = [line for line in out.splitlines() if line.startswith("receipt ")]
    assert [h.split()[1] for h in heads] == ["WEB-W1-9001", "AMS01-K1-1001", "AMS01-K1-1002"]
    code, out, err = run("explain", BAKERY, EXAMPLES / "bakery-day.json", "--receipt", "NOPE",
                         "--receipt", "AMS01-K1-1001", capsys=capsys)
    assert code == 1 and out.startswith("receipt AMS01-K1-1001") and "receipt NOPE: not in" in err


def test_process_says_which_selected_receipts_are_not_in_the_input(tmp_path, capsys):
    db = tmp_path / "l.sqlite"
    code, out, err = run("process", BAKERY, EXAMPLES / "bakery-day.json", "--db", db, "--final",
                         "--receipt", "AMS01-K1-1001,NOPE", "--format", "summary", capsys=capsys)
    assert code == 1
    assert "--receipt NOPE: no receipt with this id in RECEIPTS" in err and "AMS01-K1-1001" not in err
    assert "1 booked" in err


@pytest.mark.parametrize("text", ["", "  \n", "[]", '{"receipts": []}'])
def test_an_empty_input_is_said_and_books_nothing(tmp_path, rules_file, capsys, text):
    path = tmp_path / "empty.json"
    path.write_text(text)
    code, out, err = run("book", rules_file, path, capsys=capsys)
    assert code == 0 and err == f"tillpost: warning: no receipts in {path}\n"
    assert json.loads(out) == {"entries": [], "errors": [], "open": [], "voided": []}


def test_an_object_that_is_no_receipt_and_has_no_receipts_array_is_the_inputs_error(tmp_path, rules_file, capsys):
    path = tmp_path / "typo.json"
    path.write_text(json.dumps({"receipt": [receipt("R1")]}, indent=1))
    code, out, err = run("book", rules_file, path, capsys=capsys)
    assert code == 2 and out == ""
    assert err == (f"{path}:2:2: error: expected a JSON array of receipts, an object with a 'receipts' array, one "
                   "receipt, or JSON Lines; the top-level object has 'receipt' (did you mean 'receipts'?), which no "
                   "receipt has\n")
    with pytest.raises(InputError, match="'receipts' must be an array"):
        parse_input(b'{"receipts": {"id": "R1"}}')


# -- 9. money exact or refused --------------------------------------------------------------------


def test_sums_across_receipts_are_exact_or_refused_never_rounded(rules):
    # The day: booked at Decimal's default 28 digits this gave KAS 0.01 against VRK 0.02.
    day = [receipt("BIG", price="99999999999999999999999999.99"), receipt("SMALL", price="0.02"),
           receipt("MINUS", price="-99999999999999999999999999.99")]
    result = book(rules, day)
    assert sorted(errors_of(result)) == ["BIG", "MINUS"]
    assert all("more than 15 digits before the decimal point" in m for m in errors_of(result).values())
    totals = {e.journal: e.total for e in result.entries}
    assert totals == {"KAS": Decimal("0.02"), "VRK": Decimal("0.02")}


def test_the_largest_amounts_a_till_can_produce_book_to_the_cent(rules):
    top = "999999999999999.99"
    result = book(rules, [receipt("R1", price=top), receipt("R2", price=top), receipt("R3", price="0.01")])
    assert result.errors == []
    kas = next(e for e in result.entries if e.journal == "KAS")
    assert kas.total == Decimal("1999999999999999.99")
    assert canonical(result, rules)["entries"][0]["lines"][0]["debit"] == "1999999999999999.99"


def test_an_inexact_operation_is_refused_in_the_exact_context():
    from decimal import Inexact, localcontext

    from tillpost.engine.exact import EXACT, divided, rounded

    with localcontext(EXACT):
        with pytest.raises(Inexact):
            Decimal("1" + "0" * 49) + Decimal("0.01")  # 52 digits: would be rounded
        # SPEC §5's rounding, on purpose and explicit: half away from zero.
        assert rounded(Decimal("0.125"), Decimal("0.01")) == Decimal("0.13")
        assert rounded(Decimal("-0.125"), Decimal("0.01")) == Decimal("-0.13")
        assert divided(Decimal("12.95") * 21, Decimal(121), Decimal("0.01")) == Decimal("2.25")


# -- 10. one malformed receipt never aborts the run ------------------------------------------------

GOOD = json.dumps(receipt("GOOD"))
MALFORMED = {
    "nan": json.dumps(receipt("NAN")).replace('"amount": "12.10"', '"amount": NaN'),
    "infinity": json.dumps(receipt("INF")).replace('"unit_price": "12.10"', '"unit_price": -Infinity'),
    "4301 digits": json.dumps(receipt("BIGINT")).replace('"amount": "12.10"', '"amount": 1' + "0" * 4300),
    "deep": json.dumps(receipt("DEEP")).replace('"store": "S1"', '"store": ' + "[" * 1200 + "]" * 1200),
    "surrogate in id": json.dumps(receipt("SUR")).replace('"SUR"', '"S\\ud800R"'),
    "surrogate in a description": json.dumps(receipt("DESC")).replace('"Koffie"', '"Koffie \\udc00"'),
    "surrogate in a key": json.dumps(receipt("KEY")).replace('"register"', '"reg\\ud83dister"'),
}
EXPECTED = {
    "nan": ("NAN", "payments[0].amount NaN: not a number; write a decimal such as 12.95"),
    "infinity": ("INF", "lines[0].unit_price -Infinity: not a number; write a decimal such as 12.95"),
    "4301 digits": ("BIGINT", "payments[0].amount 10000000000000000000… (4,301 digits): more than 15 digits before "
                              "the decimal point; a till's amounts stay below 10^15"),
    "deep": ("#2", "the receipt nests deeper than tillpost reads (a receipt nests four levels; this goes past 1,000)"),
    "surrogate in id": ("S\\ud800R", "id: text with a lone surrogate"),
    "surrogate in a description": ("DESC", "lines[0].description: text with a lone surrogate"),
    "surrogate in a key": ("KEY", "key reg\\ud83dister: text with a lone surrogate"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_receipt_in_json_lines_is_that_receipts_error(tmp_path, rules_file, capsys, case):
    path = tmp_path / "day.jsonl"
    path.write_text("\n".join([GOOD, MALFORMED[case], GOOD.replace("GOOD", "GOOD2")]) + "\n")
    code, out, err = run("book", rules_file, path, capsys=capsys)
    assert code == 1, err
    rid, message = EXPECTED[case]
    errors = json.loads(out)["errors"]
    assert [e["receipt"] for e in errors] == [rid] and message in errors[0]["message"], errors
    assert f"error: receipt {rid} ({path}:2): " in err
    assert {r for e in json.loads(out)["entries"] for r in e["receipts"]} == {"GOOD", "GOOD2"}
    # explain reads them the same way.
    code, out, err = run("explain", rules_file, path, "--receipt", rid, "--receipt", "GOOD", capsys=capsys)
    assert code == 0 and message in out and "internal error" not in err
    # And so does the ledger (Records, _read): the receipt waits in error, the rest is booked.
    code, out, err = run("process", rules_file, path, "--db", tmp_path / "l.sqlite", "--final", "--format", "summary",
                         capsys=capsys)
    assert code == 1 and "2 booked" in err and "1 errors" in err, err


@pytest.mark.parametrize("case", [c for c in MALFORMED if c != "deep"])
def test_a_malformed_receipt_in_a_document_or_from_python_is_that_receipts_error(rules, case):
    text = "[" + ",\n".join([GOOD, MALFORMED[case]]) + "]"
    rid, message = EXPECTED[case]
    result = book(rules, parse_input(text.encode(), "day.json"))
    assert [(e.receipt, e.where) for e in result.errors] == [(rid, "day.json #2")]
    assert message in result.errors[0].message
    # As decoded dicts (the API, a source adapter): json.loads keeps a lone surrogate as it is.
    from tillpost.engine.decoding import decode_exact

    result = book(rules, decode_exact(text))
    assert [e.receipt for e in result.errors] == [rid.replace("#2", "#2")] and message in result.errors[0].message
    canonical(result, rules)  # and everything in it can be written out


def test_a_document_nested_too_deep_is_the_files_error_with_line_and_column(rules):
    text = "[" + GOOD + ",\n" + MALFORMED["deep"] + "]"
    with pytest.raises(InputError) as e:
        book(rules, parse_input(text.encode(), "day.json"))
    assert e.value.line == 2 and e.value.column > 1000 and "nests deeper than tillpost reads" in str(e.value)


def test_records_read_again_give_the_same_stub_and_reason():
    records = parse_input(("\n".join([GOOD, MALFORMED["surrogate in id"]]) + "\n").encode(), "day.jsonl")
    first = records.get(1)
    assert first == {"id": "S\\ud800R"} and "lone surrogate" in records.errors[1]
    assert records.get(1) == first and records.where(1) == "day.jsonl:2"


# -- 11. UBL file names ---------------------------------------------------------------------------


def test_ubl_invoices_get_file_names_of_their_own_whatever_the_ids(tmp_path):
    from tillpost.targets import render, write_rendering

    rules = load_rules(TARGETS)
    ids = ["INV/1", "INV_1", "INV-2", "inv-2", "\U0001F600", "\U0001F601", "x" * 300, "..", "a b"]
    day = [{"id": rid, "store": "AMS01", "date": "2026-11-20", "status": "completed", "currency": "EUR",
            "prices_include_vat": True, "customer": {"id": "C1", "debtor": "20001", "name": "Jansen"},
            "lines": [{"quantity": "1", "unit_price": "12.10", "vat": "high"}],
            "payments": [{"method": "invoice", "amount": "12.10"}]} for rid in ids]
    result = book(rules, day, keep_bookings=True)
    assert result.errors == []
    rendering = render(result, rules, "ubl")
    names = [d.name for d in rendering.documents]
    assert len(names) == len(ids) == len({n.casefold() for n in names})
    assert all(len(n) <= 100 and "/" not in n and not n.startswith(".") for n in names)
    assert "INV-2.xml" in names and "INV_1.xml" in names  # a plain id is its own name
    written = write_rendering(rendering, str(tmp_path / "out"))
    assert len({p.name for p in written}) == len(ids) == len(os.listdir(tmp_path / "out"))


# -- 13. Ctrl-C -------------------------------------------------------------------------------------


def test_ctrl_c_during_book_exits_130(monkeypatch, rules_file, tmp_path, capsys):
    import tillpost.cli.booking as booking

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    path = tmp_path / "day.json"
    path.write_text(json.dumps([receipt()]))
    monkeypatch.setattr(booking, "book", interrupted)
    code, out, err = run("book", rules_file, path, capsys=capsys)
    assert code == 130 and "interrupted" in err and "Aborted" not in err


def test_ctrl_c_during_process_exits_130_and_leaves_the_ledger_as_it_was(monkeypatch, tmp_path, capsys):
    import sys

    process = sys.modules["tillpost.ledger.process"]

    db = tmp_path / "l.sqlite"
    code, _, err = run("process", BAKERY, EXAMPLES / "bakery-day.json", "--db", db, "--final", capsys=capsys)
    assert code == 0, err
    before = _booked(db)
    original = process._Writer.finish  # a final run's last writes

    def interrupted(*args, **kwargs):
        original(*args, **kwargs)
        raise KeyboardInterrupt  # after the rows are written, before the commit

    monkeypatch.setattr(process._Writer, "finish", interrupted)
    code, _, err = run("process", BAKERY, EXAMPLES / "bakery-late.json", "--db", db, "--final", capsys=capsys)
    assert code == 130 and "interrupted" in err
    assert _booked(db) == before


# -- 18. a CSV delimiter, an empty receipt, escape sequences in what is printed --------------------


def test_a_csv_mapping_with_a_two_character_delimiter_is_refused_in_words(tmp_path, capsys):
    fixtures = Path(__file__).resolve().parent / "fixtures" / "sources"
    mapping = (fixtures / "kassa-export.yaml").read_text(encoding="utf-8")
    (tmp_path / "kassa-export.csv").write_bytes((fixtures / "kassa-export.csv").read_bytes())
    (tmp_path / "kassa-export.yaml").write_text(mapping + '\ndelimiter: ";;"\n', encoding="utf-8")
    code, out, err = run("book", EXAMPLES / "pos-sources.rules", tmp_path / "kassa-export.csv", capsys=capsys)
    assert code == 2 and "not a CSV mapping" in err and "delimiter" in err, err
    (tmp_path / "kassa-export.yaml").write_text(mapping + '\ndelimiter: "\\\\t"\n', encoding="utf-8")
    code, out, err = run("book", EXAMPLES / "pos-sources.rules", tmp_path / "kassa-export.csv", capsys=capsys)
    assert code == 2 and "the CSV has no column" in err  # a tab is a valid delimiter; this export has none


def test_text_from_receipts_cannot_drive_the_terminal(tmp_path, rules_file, capsys):
    evil = "\x1b]0;pwned\x07R1[/]"
    day = [receipt(evil), receipt("R2\x1b[2J", currency="USD")]
    path = tmp_path / "day.json"
    path.write_text(json.dumps(day))
    code, out, err = run("book", rules_file, path, "--format", "table", capsys=capsys)
    assert code == 1
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "\\x1b]0;pwned\\x07R1[/]" in out and "error: receipt R2\\x1b[2J" in err
    code, out, err = run("book", rules_file, path, capsys=capsys)
    assert json.loads(out)["entries"][0]["receipts"] == [evil]  # the JSON keeps the id as it is, escaped as JSON


# -- diagnostics ------------------------------------------------------------------------------------


def test_receipt_errors_say_every_problem_in_words_with_where_it_is(rules):
    broken = receipt("R1", date="21-11-2026", currency="eur", status="done", price="12,95")
    broken["payments"] = [{"method": "cash", "ammount": "12.95"}]
    broken["lnes"] = []
    result = book(rules, parse_input(("\n".join([GOOD, json.dumps(broken)]) + "\n").encode(), "day.jsonl"))
    (error,) = result.errors
    assert error.where == "day.jsonl:2"
    assert error.message.split("; ") == [
        "the receipt: unknown key 'lnes' (did you mean 'lines'?)",
        "date 21-11-2026: expected YYYY-MM-DD, e.g. 2026-11-21",
        "status done: expected completed, open or voided",
        "currency eur: expected a three-letter code in capitals, e.g. EUR",
        "lines[0].unit_price 12,95: use a decimal point, e.g. 12.95",
        "payments[0] has no amount (e.g. 12.95)",
        "payments[0]: unknown key 'ammount' (did you mean 'amount'?)",
    ]


@pytest.mark.parametrize("value, words", [
    ("12,95", "use a decimal point, e.g. 12.95"), ("1.234,50", "use a decimal point, e.g. 1234.50"),
    ("1,234.50", "write it without thousands separators, e.g. 1234.50"), ("+3", "without a plus sign, e.g. 3"),
    ("1e3", "without an exponent, e.g. 1000"), (".5", "a digit on both sides of the point, e.g. 0.5"),
    (" 12.95", "without spaces, e.g. 12.95"), ("", "is empty: expected a decimal such as 12.95"),
    ("twelve", "not an amount; write a decimal such as 12.95"), (True, "expected a decimal such as 12.95"),
    ("1234567890123456", "more than 15 digits before the decimal point"),
])
def test_an_amount_is_refused_with_what_to_write_instead(rules, value, words):
    r = receipt("R1")
    r["payments"][0]["amount"] = value
    (error,) = book(rules, [r]).errors
    assert error.message.startswith("payments[0].amount") and words in error.message, error.message


def test_a_receipt_with_a_thousand_broken_lines_gets_a_message_of_bounded_length(rules):
    r = receipt("R1", lines=[{"quantity": "x", "unit_price": "1", "vat": "high"}] * 1000)
    (error,) = book(rules, [r]).errors
    assert error.message.endswith("and 980 more problems") and len(error.message) < 3000


def test_records_made_by_hand_still_read_carefully(rules):
    records = Records("hand", [json.dumps(receipt("R1")).replace('"12.10"}]}', 'NaN}]}').encode()], layout="lines")
    result = book(rules, records)
    assert [(e.receipt, e.where) for e in result.errors] == [("R1", "hand:1")]


def _half_away(fraction) -> int:
    from fractions import Fraction

    sign = -1 if fraction < 0 else 1
    whole, rest = divmod(abs(fraction), 1)
    return sign * (int(whole) + (1 if rest >= Fraction(1, 2) else 0))


from hypothesis import given, settings, strategies as st  # noqa: E402

_cents = st.integers(min_value=-(10**17) + 1, max_value=10**17 - 1)


@settings(max_examples=500, deadline=None)
@given(_cents, _cents, _cents.filter(bool), st.sampled_from(["0", "6", "9", "21", "7.5", "5.25"]))
def test_the_vat_division_rounds_to_the_cent_as_exact_arithmetic_does(vat, gross, total, rate):
    """SPEC §5's round(VAT × g / G) and round(G × r / (100 + r)), through engine/exact.py's one
    division at 50 digits, agree with exact rational arithmetic for every amount below 10^15."""
    from fractions import Fraction

    from decimal import localcontext

    from tillpost.engine.exact import EXACT, divided

    cent = Decimal("0.01")
    v, g, t = (Decimal(x).scaleb(-2) for x in (vat, gross, total))
    with localcontext(EXACT):  # as booking runs: the products exact
        assert divided(v * g, t, cent) == Decimal(_half_away(Fraction(v) * Fraction(g) / Fraction(t) * 100)).scaleb(-2)
        r = Decimal(rate)
        assert divided(g * r, 100 + r, cent) == Decimal(_half_away(Fraction(g) * Fraction(r) / (100 + Fraction(r)) * 100)).scaleb(-2)


def test_a_pos_export_unreadable_as_a_whole_is_the_inputs_error(tmp_path, capsys):
    fixture = Path(__file__).resolve().parent / "fixtures" / "sources" / "lightspeed-k-financials.json"
    path = tmp_path / "k.json"
    path.write_text(fixture.read_text(encoding="utf-8").replace('"2026-11-21T05:00:00+01:00"', '"0.5"', 1))
    code, out, err = run("book", EXAMPLES / "pos-sources.rules", path, capsys=capsys)
    assert code == 2 and out == ""
    assert err == f"{path}: error: lightspeed-k export: nextStartOfDayAsIso8601 '0.5' is not an ISO 8601 timestamp\n"


def test_a_binary_float_from_python_is_named_where_it_is(rules):
    r = receipt("R1")
    r["payments"][0]["amount"] = 12.1
    (error,) = book(rules, [r]).errors
    assert error.message == ("payments[0].amount 12.1: a binary float cannot hold an amount exactly; give amounts "
                             "as decimal strings or Decimal")


@pytest.mark.parametrize("counted, valid", [("999999999999999.99", True), ("1000000000000000", False),
                                            (999999999999999, True), (10**15, False), ("-999999999999999", True)])
def test_a_till_closings_amounts_have_the_receipts_bound_in_its_schema_and_its_reader(counted, valid):
    # The closing reader reads amounts with the receipt reader's _decimal: both schemas say the same.
    import jsonschema

    from tillpost.engine.closings import ClosingInvalid, closing_schema, read_closing

    c = {"type": "closing", "id": "C1", "store": "S1", "register": "K1", "date": "2026-11-20", "currency": "EUR",
         "counts": [{"method": "cash", "expected": "1.00", "counted": counted}]}
    assert jsonschema.Draft202012Validator(closing_schema()).is_valid(c) is valid
    try:
        read_closing(c)
        assert valid
    except ClosingInvalid:
        assert not valid


def test_a_receipt_without_id_is_named_by_its_place_in_the_input_closings_counted(rules):
    closing = {"type": "closing", "id": "C1", "store": "S1", "register": "K1", "date": "2026-11-20",
               "currency": "EUR", "counts": []}
    text = json.dumps([receipt("R1"), closing, "not a receipt"])
    result = book(rules, parse_input(text.encode(), "day.json"))
    assert [(e.receipt, e.where) for e in result.errors] == [("#3", "day.json #3")]


def test_an_input_of_till_closings_alone_is_not_said_to_be_empty(tmp_path, capsys):
    closing = {"type": "closing", "id": "C1", "store": "AMS01", "register": "K1", "date": "2026-11-20",
               "currency": "EUR", "counts": []}
    path = tmp_path / "closings.json"
    path.write_text(json.dumps([closing]))
    code, out, err = run("book", BAKERY, path, capsys=capsys)
    assert "no receipts in" not in err and code in (0, 1), err
