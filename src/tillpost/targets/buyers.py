"""What an e-invoicing profile demands of the customer, before an invoice is written.

A receipt knows its customer's name and debtor number; NLCIUS and Peppol BIS also want, of a
Dutch customer of a Dutch seller, an address (BR-NL-4, NL-R-004) and a KvK number (BR-NL-10),
and Peppol an electronic address for every customer (PEPPOL-EN16931-R010). They come from the
rule file's `target ubl buyer-FIELD-DEBTOR` settings. A target's manifest lists the demands
(`buyer_requires`, per profile); this module finds what a debtor lacks:

- `book --target` leaves such an invoice out and reports it (exit 1): an invoice the receiver's
  validator rejects is never written as if all were well;
- `check` reports it for every debtor the rule file knows: the fixed debtors of individual
  methods, and the debtors it names in `buyer-…` settings.
"""

from __future__ import annotations

PROFILES = {"nlcius": "NLCIUS (SI-UBL 2.0)", "peppol": "Peppol BIS Billing 3.0"}


def missing(target, settings: dict, debtor: str) -> list[tuple[str, str]]:
    """(field, rule) for each detail the profile in `settings` requires of `debtor` and lacks."""
    demands = (target.buyer_requires or {}).get(settings.get("profile") or "", ())
    seller = (settings.get("country") or "").upper()
    buyer = (settings.get(f"buyer-country-{debtor}") or seller).upper()
    out = []
    for demand in demands:
        if demand.get("seller") and demand["seller"] != seller:
            continue
        if demand.get("buyer") and demand["buyer"] != buyer:
            continue
        if not settings.get(f"buyer-{demand['field']}-{debtor}"):
            out.append((demand["field"], demand["rule"]))
    return out


def message(target, settings: dict, debtor: str, lacks: list[tuple[str, str]]) -> str:
    by_rule: dict[str, list[str]] = {}
    for field, rule in lacks:
        by_rule.setdefault(rule, []).append(field)
    what = ", ".join(f"{' and '.join(fields)} ({rule})" for rule, fields in by_rule.items())
    adds = ", ".join(f'`target {target.name} buyer-{field}-{debtor} "…"`' for field, _ in lacks)
    profile = settings.get("profile") or ""
    return f"customer {debtor} lacks what {PROFILES.get(profile, profile)} requires of it: {what}; add {adds}"


def known_debtors(ruleset, target) -> dict[str, object]:
    """The debtors the rule file knows, with where: fixed debtors, and those of `buyer-…` settings."""
    out: dict[str, object] = {}
    for method in ruleset.methods.values():
        if method.mode == "individual" and method.debtor:
            out.setdefault(method.debtor, method.pos)
    families = [name[:-1] for name in target.settings if name.startswith("buyer-") and name.endswith("*")]
    for ts in ruleset.target_settings:
        if ts.target != target.name:
            continue
        for prefix in families:
            if ts.setting.startswith(prefix) and len(ts.setting) > len(prefix):
                out.setdefault(ts.setting[len(prefix):], ts.setting_pos or ts.pos)
    return out
