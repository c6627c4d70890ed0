"""A client's `export.deliver` table in tillpost.toml: which package, where, with which credentials.

    export = { target = "moneybird", to = "out/bakkerij-jansen",
               deliver = { package = "moneybird", administration = "123456789",
                           credentials = { token = "env:MONEYBIRD_TOKEN" } } }

    package         moneybird | exact-online (each delivers the documents of its target:
                    moneybird, exact-online-rest)
    administration  Moneybird: the administration id, part of every path
    base_url        the API's address (default: the package's own; a test server's in tests)
    credentials     name → "env:VARIABLE" or "secrets:KEY" (credentials.py); which names a
                    package needs is in PACKAGES
    timeout         seconds to wait for an answer (default 30)

Exact Online's division is the rule file's (`target exact-online-rest division "…"`): it is in
the path of every request the target renders.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from .credentials import SECRETS, check_source


@dataclass(frozen=True)
class Package:
    name: str
    title: str  # as a person names it
    target: str  # the target whose documents it takes
    base_url: str
    required: tuple[str, ...]  # credentials it needs
    optional: tuple[str, ...] = ()
    in_secrets: tuple[str, ...] = ()  # credentials the package rotates: only the secrets file can keep them
    administration: bool = False  # does it need an administration id


PACKAGES = {
    "moneybird": Package("moneybird", "Moneybird", "moneybird", "https://moneybird.com/api/v2", ("token",),
                         administration=True),
    "exact-online": Package("exact-online", "Exact Online", "exact-online-rest", "https://start.exactonline.nl",
                            ("client_id", "client_secret", "refresh_token"), ("access_token",),
                            in_secrets=("refresh_token", "access_token")),
}
BY_TARGET = {p.target: p for p in PACKAGES.values()}
DELIVER_KEYS = ("package", "base_url", "credentials", "administration", "timeout")
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class DeliverConfig:
    package: Package
    base_url: str
    credentials: dict[str, str] = field(default_factory=dict)  # name → where (env:/secrets:)
    administration: str | None = None
    timeout: float = DEFAULT_TIMEOUT


def parse_deliver(value, target: str | None, report) -> DeliverConfig | None:
    """The deliver table checked; each problem goes to `report` (a workspace diagnostic)."""
    if not isinstance(value, dict):
        report("export.deliver must be a table: deliver = { package = \"moneybird\", … }")
        return None
    ok = True
    for key in value:
        if key not in DELIVER_KEYS:
            close = difflib.get_close_matches(str(key), DELIVER_KEYS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            report(f"unknown key '{key}' in export.deliver{hint}; expected {', '.join(DELIVER_KEYS)}")
            ok = False
    package = PACKAGES.get(value.get("package"))
    if package is None:
        report(f"export.deliver package '{value.get('package')}': expected one of {', '.join(PACKAGES)}")
        return None
    if target is not None and target != package.target:
        report(f"package {package.name} takes the documents of target '{package.target}', and this client exports "
               f"'{target}': set export.target = \"{package.target}\"")
        ok = False
    base_url = value.get("base_url", package.base_url)
    if not isinstance(base_url, str) or not re.match(r"https?://[^\s/]+", base_url):
        report(f"export.deliver base_url must be the API's address (https://…), not {base_url!r}")
        ok = False
    administration = value.get("administration")
    if package.administration:
        if not isinstance(administration, str) or not re.fullmatch(r"[0-9]{1,20}", administration):
            report(f"package {package.name} needs administration = \"…\": the administration's id (digits)")
            ok = False
    elif administration is not None:
        report(f"package {package.name} takes no administration (its division is the rule file's)")
        ok = False
    timeout = value.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 600:
        report(f"export.deliver timeout is seconds to wait for an answer, more than 0 and at most 600, not {timeout!r}")
        ok = False
    credentials = value.get("credentials", {})
    if not isinstance(credentials, dict):
        report("export.deliver credentials must be a table: credentials = { token = \"env:VARIABLE\" }")
        return None
    for name, where in credentials.items():
        if name not in package.required + package.optional:
            report(f"package {package.name} takes no credential '{name}'; it takes "
                   f"{', '.join(package.required + package.optional)}")
            ok = False
            continue
        problem = check_source(name, where)
        if problem:
            report(problem)
            ok = False
        elif name in package.in_secrets and not where.startswith(SECRETS):
            report(f"credential '{name}' of {package.title} must be a key of the secrets file (secrets:KEY): "
                   f"{package.title} issues a new one when it is used, and tillpost keeps it there")
            ok = False
    missing = [n for n in package.required if n not in credentials]
    if missing:
        report(f"package {package.name} needs credentials {', '.join(missing)} in export.deliver.credentials")
        ok = False
    if not ok:
        return None
    return DeliverConfig(package, base_url.rstrip("/"), dict(credentials), administration, float(timeout))


def redact(text: str, data: dict) -> str:
    """The workspace file's text as diagnostics may quote it: any value written in a deliver table's
    credentials that is not a place (`env:`, `secrets:`) — a credential itself — is masked."""
    found = []
    for table in (data.get("clients") or {}).values() if isinstance(data.get("clients"), dict) else ():
        export = table.get("export") if isinstance(table, dict) else None
        deliver = export.get("deliver") if isinstance(export, dict) else None
        credentials = deliver.get("credentials") if isinstance(deliver, dict) else None
        if isinstance(credentials, dict):
            found += [v for k, v in credentials.items() if isinstance(v, str) and len(v) >= 4 and check_source(k, v)]
    for value in sorted(set(found), key=len, reverse=True):
        text = text.replace(value, "*" * 3)
    return text
