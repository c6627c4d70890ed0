"""A receipt paid on invoice and by other methods at once (`method invoice individual with pin, cash`).

The sales entry is the invoice for the full amount against the invoice's debtor; the other
payments credit that debtor in the receipt's own entries; what the debtor still owes is the
invoice method's part. Without the opt-in such a receipt is an error that names the line to
write; two individual methods on one receipt stay an error.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tillpost.api import book, compile_text

HEADER = """
client "Fietsen" currency EUR counter debtor "BALIE"
journal KAS cash "Kas"  journal MEM memo "Memoriaal"  journal VRK sales "Verkoop"
account kas 1000 "Kas"  account pin 1105 "Pin"  account deb 1300 "Debiteuren" debtors
account hoog 1520 "BTW hoog"  account laag 1521 "BTW laag"  account omzet 8000 "Omzet"
account afronding 8990 "Afronding"
vat high 21%  vat low 9%
method cash turnover  method pin turnover
when sale post VRK deb -> omzet
when tax vat=high post VRK deb -> hoog
when tax vat=low post VRK deb -> laag
when payment method=cash post KAS kas -> deb
when payment method=pin post MEM pin -> deb
when payment method in (invoice, lease) skip
when cost skip
when rounding post KAS afronding -> deb
"""
OPTED_IN = 'method invoice individual with pin, cash  method lease individual debtor "20050" with pin\n'
NOT_OPTED_IN = 'method invoice individual  method lease individual debtor "20050"\n'


def compiled(methods: str):
    ruleset, diagnostics = compile_text(HEADER + methods)
    assert ruleset is not None, diagnostics.format()
    return ruleset


@pytest.fixture(scope="module")
def rules():
    return compiled(OPTED_IN)


def receipt(rid, payments, price="899.00", customer="21042", rounding=None):
    r = {"id": rid, "number": rid, "store": "UTR01", "date": "2026-11-22", "status": "completed",
         "currency": "EUR", "prices_include_vat": True,
         "customer": {"id": "B-42", "debtor": customer, "name": "Koeriers Utrecht B.V."},
         "lines": [{"description": "Stadsfiets", "quantity": "1", "unit_price": price, "vat": "high"}],
         "payments": [{"method": m, "amount": a} for m, a in payments]}
    if rounding is not None:
        r["cash_rounding"] = rounding
    return r


def debtor_balances(result) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for entry in result.entries:
        for line in entry.lines:
            if line.debtor:
                out[line.debtor] += line.debit - line.credit
    return dict(out)


def lines(entry):
    return [(l.account, str(l.debit), str(l.credit), l.debtor) for l in entry.lines]


def test_a_deposit_by_pin_and_the_rest_on_invoice(rules):
    result = book(rules, [receipt("5204", [("pin", "99.00"), ("invoice", "800.00")])])
    assert not result.errors, result.errors
    by_journal = {e.journal: e for e in result.entries}
    assert set(by_journal) == {"MEM", "VRK"}
    # the invoice is for the whole bicycle, against the customer
    assert lines(by_journal["VRK"]) == [("1300", "899.00", "0", "21042"), ("1520", "0", "156.02", None),
                                        ("8000", "0", "742.98", None)]
    # the deposit is booked in the receipt's own memorial entry, against the same debtor
    assert by_journal["MEM"].mode == "individual" and by_journal["MEM"].key == "5204"
    assert lines(by_journal["MEM"]) == [("1105", "99.00", "0", None), ("1300", "0", "99.00", "21042")]
    assert debtor_balances(result) == {"21042": Decimal("800.00")}


def test_a_lease_company_pays_most_and_the_customer_tops_up(rules):
    """A fixed debtor: the lease company is invoiced, and the customer's PIN payment is credited to it."""
    result = book(rules, [receipt("L1", [("lease", "1400.00"), ("pin", "100.00")], price="1500.00")])
    assert not result.errors, result.errors
    assert debtor_balances(result) == {"20050": Decimal("1400.00")}
    assert {e.description for e in result.entries} == {"Bon L1"}


def test_cash_rounding_on_the_cash_part_stays_off_the_invoice(rules):
    # 899.99 on invoice 800, the rest in cash rounded to 100.00: the customer owes exactly 800
    result = book(rules, [receipt("R1", [("cash", "100.00"), ("invoice", "800.00")], price="899.99",
                                  rounding="-0.01")])
    assert not result.errors, result.errors
    assert debtor_balances(result) == {"21042": Decimal("800.00")}


def test_a_refund_of_a_mixed_receipt_reverses_it(rules):
    sale = receipt("S1", [("pin", "99.00"), ("invoice", "800.00")])
    refund = receipt("S2", [("pin", "-99.00"), ("invoice", "-800.00")], price="-899.00")
    result = book(rules, [sale, refund])
    assert not result.errors, result.errors
    assert debtor_balances(result) == {"21042": Decimal("0.00")}


def test_without_the_opt_in_it_is_an_error_that_names_the_line_to_write():
    rules = compiled(NOT_OPTED_IN)
    result = book(rules, [receipt("5204", [("pin", "99.00"), ("invoice", "800.00")]),
                          receipt("L1", [("lease", "1400.00"), ("pin", "60.00"), ("cash", "40.00")],
                                  price="1500.00")])
    assert not result.entries
    errors = {e.receipt: e.message for e in result.errors}
    assert errors["5204"] == (
        "a receipt booked individually (invoice) has other payments too (pin 99.00, invoice 800.00), and method "
        "'invoice' does not take pin with it; to book it against the invoice's debtor as paid in part, declare "
        "`method invoice individual with pin`")
    assert errors["L1"].endswith("does not take pin or cash with it; to book them against the invoice's debtor as "
                                 "paid in part, declare `method lease individual debtor \"20050\" with pin, cash`")
    # the line it names is the one that books it
    fixed = compiled('method invoice individual with pin  method lease individual debtor "20050" with pin, cash\n')
    assert not book(fixed, [receipt("5204", [("pin", "99.00"), ("invoice", "800.00")])]).errors


def test_a_method_not_taken_with_the_invoice_is_named(rules):
    # lease takes pin, not cash
    result = book(rules, [receipt("L2", [("lease", "1400.00"), ("cash", "100.00")], price="1500.00")])
    assert result.errors[0].message.endswith(
        "declare `method lease individual debtor \"20050\" with pin, cash`")


def test_two_individual_methods_on_one_receipt_stay_an_error(rules):
    result = book(rules, [receipt("X1", [("lease", "1400.00"), ("invoice", "100.00")], price="1500.00")])
    assert [e.message for e in result.errors] == [
        "a receipt is invoiced by one individual method, but this one is paid by 2 individual methods "
        "(lease and invoice): it cannot be one invoice against one debtor"]


def test_two_payments_of_the_invoice_method_are_one_invoice(rules):
    result = book(rules, [receipt("I2", [("invoice", "400.00"), ("invoice", "499.00")])])
    assert not result.errors, result.errors
    assert debtor_balances(result) == {"21042": Decimal("899.00")}


# -- the rule file's checks ---------------------------------------------------------------------


def diagnostics_of(methods: str, rules: str = "") -> list[str]:
    _, diagnostics = compile_text(HEADER.replace("when payment method=pin post MEM pin -> deb\n", rules
                                                 or "when payment method=pin post MEM pin -> deb\n") + methods)
    return [f"{d.pos.line}:{d.pos.col}: {d.message}" for d in diagnostics.items if d.severity == "error"]


def test_with_on_a_turnover_method_is_an_error():
    assert diagnostics_of("method invoice individual method lease individual\nmethod bank turnover with pin\n"
                          "when payment method=bank post KAS kas -> deb\n") == [
        "18:22: `with` is for individual methods: it lets a receipt invoiced by one be paid in part by other "
        "methods; a turnover receipt may have any payments"]


def test_with_names_declared_turnover_methods_once():
    found = diagnostics_of("method invoice individual with pin, pinn, pin, invoice, lease\n"
                           "method lease individual\n")
    assert found == [
        "17:37: undeclared method 'pinn'; did you mean 'pin'?",
        "17:43: 'pin' is named twice",
        "17:48: 'invoice' is this method itself; `with` lists the other methods that pay part of its receipts",
        "17:57: 'lease' is individual too; a receipt is invoiced by one individual method, so only turnover "
        "methods pay with it",
    ]


def test_a_method_taken_with_an_invoice_must_credit_the_debtor():
    skipped = diagnostics_of("method invoice individual with pin method lease individual\n",
                             "when payment method=pin mode=individual skip\n")  # turnover pin: the counter debtor
    assert len(skipped) == 1 and "'pin' pays with 'invoice', so its payment rule at <rules>:13 must credit a " \
        "debtors account" in skipped[0] and skipped[0].endswith("that rule skips it")
    reversed_ = diagnostics_of("method invoice individual with pin method lease individual\n",
                               "when payment method=pin post MEM deb -> pin\n")
    assert reversed_[0].endswith("that rule posts deb -> pin")
    turnover_only = diagnostics_of("method invoice individual with pin method lease individual\n",
                                   "when payment method=pin mode=turnover post MEM pin -> deb\n")
    assert turnover_only == ["17:32: no payment rule books 'pin' in an individual receipt; its rules all say "
                             "mode=turnover: add one for mode=individual that credits the debtors account"]


def test_a_turnover_method_taken_with_an_invoice_can_meet_individual_rules():
    """Once pin pays with an invoice, a pin payment can be in an individual receipt: two rules that
    both match one there, neither more specific, are ambiguous; without `with` they never meet."""
    rules = ("when payment method=pin mode=individual post MEM pin -> deb\n"
             "when payment method=pin store=UTR01 post MEM pin -> deb\n")
    with_pin = diagnostics_of("method invoice individual with pin method lease individual\n", rules)
    assert len(with_pin) == 1 and "ambiguous rules" in with_pin[0], with_pin
    without = diagnostics_of("method invoice individual method lease individual\n", rules)
    assert without == []


# -- property: the debtor owes the invoice method's part ----------------------------------------

CENT = Decimal("0.01")


RATES = {"high": Decimal(21), "low": Decimal(9)}


@st.composite
def mixed_receipts(draw):
    """A receipt with one invoice (or lease) payment and random PIN and cash payments, cash rounded."""
    incl = draw(st.booleans())
    lines_, nets = [], defaultdict(Decimal)
    for _ in range(draw(st.integers(1, 4))):
        qty = draw(st.integers(-2, 5).filter(bool))
        price = Decimal(draw(st.integers(1, 200_000))) / 100
        vat = draw(st.sampled_from(sorted(RATES)))
        lines_.append({"quantity": str(qty), "unit_price": str(price), "vat": vat})
        nets[vat] += qty * price
    total = sum(nets.values(), Decimal(0))
    if not incl:  # SPEC §5: VAT per VAT name on the sum of the lines, rounded half away from zero
        total += sum(((n * RATES[v] / 100).quantize(CENT, ROUND_HALF_UP) for v, n in nets.items()), Decimal(0))
    invoice = draw(st.sampled_from(["invoice", "lease"]))
    others = draw(st.lists(st.sampled_from(["pin", "cash"] if invoice == "invoice" else ["pin"]), max_size=3))
    payments, rest = [], total
    for method in others:
        amount = (total * Decimal(draw(st.integers(0, 100))) / 100).quantize(CENT)
        payments.append({"method": method, "amount": str(amount)})
        rest -= amount
    rounding = Decimal(draw(st.sampled_from([0, 0, 1, -1, 2]))) / 100 if "cash" in others else Decimal(0)
    part = rest - rounding
    payments.insert(draw(st.integers(0, len(payments))), {"method": invoice, "amount": str(part)})
    receipt = {"id": "P1", "number": "1", "store": "UTR01", "date": "2026-11-22", "status": "completed",
               "currency": "EUR", "prices_include_vat": incl, "lines": lines_,
               "customer": {"id": "C", "debtor": "21042"}, "payments": payments}
    if rounding:
        receipt["cash_rounding"] = str(rounding)
    return receipt, invoice, part


@settings(max_examples=200, deadline=None)
@given(mixed_receipts())
def test_the_debtors_balance_after_a_mixed_receipt_is_the_invoice_methods_part(rules, drawn):
    receipt_, invoice, part = drawn
    result = book(rules, [receipt_])
    assert not result.errors, result.errors
    debtor = "20050" if invoice == "lease" else "21042"
    balances = debtor_balances(result)
    assert balances.get(debtor, Decimal(0)) == part
    assert set(balances) <= {debtor}
    for entry in result.entries:
        assert entry.mode == "individual" and entry.key == "P1"
