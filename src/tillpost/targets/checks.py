"""Checks a payload's schema cannot make: references and totals.

The XAF 3.2 XSD declares its keys and keyrefs with unprefixed XPath selectors,
which match nothing in its namespace, so a schema validator accepts an audit
file whose lines point at undeclared accounts. `check_xaf` makes those checks,
and the totals an auditor's tool reconciles first.
"""

from __future__ import annotations

from decimal import Decimal

XAF = "{http://www.auditfiles.nl/XAF/3.2}"


def check_xaf(text: str | bytes) -> list[str]:
    """Every problem of an XAF 3.2 audit file that its XSD does not catch (empty: none)."""
    from lxml import etree

    root = etree.fromstring(text.encode("utf-8") if isinstance(text, str) else text)
    company = root.find(f"{XAF}company")

    def ids(path: str, field: str) -> list[str]:
        qualified = "/".join(XAF + step for step in path.split("/"))
        return [e.findtext(XAF + field) for e in company.iterfind(qualified)]

    problems = []
    accounts = ids("generalLedger/ledgerAccount", "accID")
    customers = ids("customersSuppliers/customerSupplier", "custSupID")
    vats = ids("vatCodes/vatCode", "vatID")
    periods = ids("periods/period", "periodNumber")
    journals = ids("transactions/journal", "jrnID")
    for what, values in (("account", accounts), ("customer/supplier", customers), ("VAT code", vats),
                         ("period", periods), ("journal", journals)):
        doubles = sorted({v for v in values if values.count(v) > 1})
        if doubles:
            problems.append(f"{what} declared twice: {', '.join(doubles)}")
    for vat in company.iterfind(f"{XAF}vatCodes/{XAF}vatCode"):
        for field in ("vatToPayAccID", "vatToClaimAccID"):
            acc = vat.findtext(f"{XAF}{field}")
            if acc is not None and acc not in accounts:
                problems.append(f"VAT code {vat.findtext(f'{XAF}vatID')}: {field} {acc} is not a declared account")

    transactions = company.find(f"{XAF}transactions")
    if transactions is None:
        return problems
    count, debit, credit = 0, Decimal(0), Decimal(0)
    for journal in transactions.iterfind(f"{XAF}journal"):
        jrn = journal.findtext(f"{XAF}jrnID")
        for tr in journal.iterfind(f"{XAF}transaction"):
            where = f"journal {jrn} transaction {tr.findtext(f'{XAF}nr')}"
            if tr.findtext(f"{XAF}periodNumber") not in periods:
                problems.append(f"{where}: period {tr.findtext(f'{XAF}periodNumber')} is not declared")
            tr_debit, tr_credit = Decimal(0), Decimal(0)
            for line in tr.iterfind(f"{XAF}trLine"):
                count += 1
                amount = Decimal(line.findtext(f"{XAF}amnt"))
                if line.findtext(f"{XAF}amntTp") == "D":
                    tr_debit += amount
                else:
                    tr_credit += amount
                acc = line.findtext(f"{XAF}accID")
                if acc not in accounts:
                    problems.append(f"{where} line {line.findtext(f'{XAF}nr')}: account {acc} is not declared")
                cust = line.findtext(f"{XAF}custSupID")
                if cust is not None and cust not in customers:
                    problems.append(f"{where} line {line.findtext(f'{XAF}nr')}: customer {cust} is not declared")
                for vat in line.iterfind(f"{XAF}vat"):
                    if vat.findtext(f"{XAF}vatID") not in vats:
                        problems.append(f"{where} line {line.findtext(f'{XAF}nr')}: VAT code "
                                        f"{vat.findtext(f'{XAF}vatID')} is not declared")
            if tr_debit != tr_credit:
                problems.append(f"{where}: debit {tr_debit} and credit {tr_credit} differ")
            stated = tr.findtext(f"{XAF}amnt")
            if stated is not None and Decimal(stated) != tr_debit:
                problems.append(f"{where}: amount {stated} is not its debit total {tr_debit}")
            debit, credit = debit + tr_debit, credit + tr_credit
    if int(transactions.findtext(f"{XAF}linesCount")) != count:
        problems.append(f"linesCount {transactions.findtext(f'{XAF}linesCount')} but {count} lines")
    for field, total in (("totalDebit", debit), ("totalCredit", credit)):
        if Decimal(transactions.findtext(f"{XAF}{field}")) != total:
            problems.append(f"{field} {transactions.findtext(f'{XAF}{field}')} but the lines add up to {total}")
    return problems
