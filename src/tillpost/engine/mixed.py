"""Receipts paid by an invoice and other methods at once (`method … individual with pin, cash`).

A bicycle bought with a deposit by PIN and the rest on invoice, or paid mostly by a lease
company and topped up by the customer: one receipt, one individual method (the invoice) and
payments of other methods. The rule file opts in per individual method with `with`; the
receipt is then booked individually: its sales entry is the invoice for the full amount
against the invoice's debtor, and the other payments, booked by their own payment rules
(`post KAS kas -> debiteuren`), credit that same debtor in the receipt's own entries. What
the debtor still owes is the invoice method's part, as with a partly paid invoice.

This module holds the compile-time checks of `with` and the receipt-time decision which
individual method, if any, a receipt is booked by.
"""

from __future__ import annotations

import difflib

from .diagnostics import Diagnostics
from .ruleset import Method, Rule

INDIVIDUAL = "individual"
TURNOVER = "turnover"


def declaration(method: Method, add: tuple[str, ...] = ()) -> str:
    """The method's declaration as a consultant writes it, taking `add` with it as well."""
    words = ["method", method.name, method.mode]
    if method.debtor is not None:
        words += ["debtor", '"' + method.debtor.replace("\\", "\\\\").replace('"', '\\"') + '"']
    mixed = list(dict.fromkeys([name for name, _ in method.mixed] + list(add)))
    if mixed:
        words += ["with", ", ".join(mixed)]
    return " ".join(words)


def payment_mode(payments, methods: dict[str, Method]) -> tuple[str, Method | None, list[str]]:
    """(mode, the individual method the receipt is invoiced by or None, what is wrong) for a
    receipt's payments: individual when one of them is of an individual method."""
    reasons = []
    individual: list[str] = []
    for p in payments:
        method = methods.get(p.method)
        if method is None:
            reasons.append(f"payment method '{p.method}' is not declared in the rule file")
        elif method.mode == INDIVIDUAL and p.method not in individual:
            individual.append(p.method)
    if not individual:
        return TURNOVER, None, reasons
    method = methods[individual[0]]
    if len(individual) > 1:
        reasons.append(f"a receipt is invoiced by one individual method, but this one is paid by "
                       f"{len(individual)} individual methods ({_and(individual)}): it cannot be one invoice against one debtor")
        return INDIVIDUAL, method, reasons
    others = [p.method for p in payments if p.method != method.name and p.method in methods]
    refused = [m for m in dict.fromkeys(others) if not method.allows(m)]
    if refused:
        shown = ", ".join(f"{p.method} {p.amount}" for p in payments)
        reasons.append(f"a receipt booked individually ({method.name}) has other payments too ({shown}), and "
                       f"method '{method.name}' does not take {_or(refused)} with it; to book "
                       f"{'it' if len(refused) == 1 else 'them'} against the invoice's debtor as paid in part, "
                       f"declare `{declaration(method, tuple(refused))}`")
    return INDIVIDUAL, method, reasons


def _and(words: list[str]) -> str:
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else words[0]


def _or(words: list[str]) -> str:
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]


def individual_method(payments, methods: dict[str, Method]) -> Method | None:
    """The individual method a receipt is invoiced by: the first of its payments' that is one."""
    for p in payments:
        method = methods.get(p.method)
        if method is not None and method.mode == INDIVIDUAL:
            return method
    return None


# -- compile time -----------------------------------------------------------------------------


def _may_book(rule: Rule, method: str) -> bool:
    """Can `rule` book a payment of `method` in an individual receipt?"""
    if rule.kind != "payment":
        return False
    methods = rule.conditions.get("method")
    modes = rule.conditions.get("mode")
    return (methods is None or method in methods) and (modes is None or INDIVIDUAL in modes)


def check_mixed(methods: dict[str, Method], rules: list[Rule], d: Diagnostics) -> None:
    """Every `with` names declared turnover methods, once, whose payment rules in an individual
    receipt credit a debtors account: only then does the invoice's debtor owe exactly the rest."""
    for method in methods.values():
        seen: set[str] = set()
        for name, pos in method.mixed:
            other = methods.get(name)
            if name in seen:
                d.error(pos, f"'{name}' is named twice")
                continue
            seen.add(name)
            if name == method.name:
                d.error(pos, f"'{name}' is this method itself; `with` lists the other methods that pay part of its receipts")
            elif other is None:
                close = difflib.get_close_matches(name, list(methods), n=1)
                d.error(pos, f"undeclared method '{name}'" + (f"; did you mean '{close[0]}'?" if close else ""))
            elif other.mode == INDIVIDUAL:
                d.error(pos, f"'{name}' is individual too; a receipt is invoiced by one individual method, "
                             "so only turnover methods pay with it")
            else:
                _check_payment_rules(method, name, pos, rules, d)


def _check_payment_rules(method: Method, name: str, pos, rules: list[Rule], d: Diagnostics) -> None:
    payment_rules = [r for r in rules if r.kind == "payment" and ("method" not in r.conditions
                                                                  or name in r.conditions["method"])]
    if not payment_rules:
        return  # coverage says the method has no payment rule at all
    booking = [r for r in payment_rules if _may_book(r, name)]
    if not booking:
        d.error(pos, f"no payment rule books '{name}' in an individual receipt; its rules all say "
                     "mode=turnover: add one for mode=individual that credits the debtors account")
        return
    for rule in booking:
        if rule.post is None or not rule.post.credit.debtors or rule.post.debit.debtors:
            what = "skips it" if rule.post is None else f"posts {rule.post.debit.name} -> {rule.post.credit.name}"
            d.error(pos, f"'{name}' pays with '{method.name}', so its payment rule at {rule.where} must credit a "
                         f"debtors account (such as `post KAS kas -> debiteuren`), or the invoice's debtor would "
                         f"not be credited what {name} paid; that rule {what}")
