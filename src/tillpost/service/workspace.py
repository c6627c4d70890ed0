"""The workspace: `tillpost.toml`, the clients a POS link serves (SPEC §12).

    [defaults]
    interval = 15                              # minutes between runs, 0–720 (0: as files arrive)

    [clients.bakkerij-jansen]
    rules  = "rules/bakkerij-jansen/client.rules"
    inbox  = "inbox/bakkerij-jansen"
    source = "lightspeed-retail"               # optional; detected from the file otherwise
    stores = ["AMS01"]                         # optional selection (stores and/or registers)
    interval = 60
    export = { target = "exact-globe", to = "out/bakkerij-jansen" }   # optional, §14
    # delivered to a package's API too (delivery/config.py):
    # export = { target = "moneybird", to = "out/x", deliver = { package = "moneybird", administration = "…",
    #            credentials = { token = "env:MONEYBIRD_TOKEN" } } }

Paths are relative to the workspace folder. A client's name is its `[clients.NAME]`
key. The file is read with the standard library's `tomllib`; every problem is a
`file:line: error:` diagnostic. A problem with one client makes that client
unusable (it is reported and skipped); the others run. Only a file that is not
TOML at all, or has no clients, is unusable as a whole.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.diagnostics import Diagnostics, Position

FILE_NAME = "tillpost.toml"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
DEFAULT_INTERVAL = 15

# Every key the file may hold, with what its value must be.
DEFAULT_KEYS = ("interval", "source", "secrets")
CLIENT_KEYS = ("rules", "inbox", "source", "stores", "registers", "interval", "export")
EXPORT_KEYS = ("target", "to", "deliver")


class WorkspaceError(Exception):
    """The workspace file as a whole cannot be used."""


@dataclass
class ClientConfig:
    name: str
    rules: Path
    inbox: Path
    source: str | None = None
    stores: tuple[str, ...] = ()
    registers: tuple[str, ...] = ()
    interval: int = DEFAULT_INTERVAL
    export: dict | None = None  # {"target": …, "to": Path, "deliver": DeliverConfig | None}
    line: int = 1  # where its table starts, for messages


@dataclass
class Workspace:
    path: Path  # the tillpost.toml file
    clients: dict[str, ClientConfig] = field(default_factory=dict)
    broken: dict[str, list[str]] = field(default_factory=dict)  # client → why it cannot run
    secrets: Path | None = None  # a file of package credentials, named by the workspace
    diagnostics: Diagnostics = field(default_factory=Diagnostics)

    @property
    def folder(self) -> Path:
        return self.path.parent


def workspace_file(path: str | Path) -> Path:
    """WORKSPACE is the folder holding tillpost.toml, or the file itself."""
    p = Path(path)
    return p / FILE_NAME if p.is_dir() else p


class _Locator:
    """Lines of keys in the TOML text: tomllib gives values, not where they stand."""

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.tables: dict[str, int] = {}  # "clients.acme" → line of its header
        self.keys: dict[tuple[str, str], int] = {}  # (table, key) → line
        table = ""
        header = re.compile(r"\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
        key = re.compile(r"\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_.-]+)\s*=")
        for n, line in enumerate(self.lines, start=1):
            m = header.match(line)
            if m:
                table = ".".join(part.strip().strip("\"'") for part in _split_dotted(m.group(1)))
                self.tables.setdefault(table, n)
                continue
            m = key.match(line)
            if m:
                name = m.group(1).strip("\"'")
                self.keys.setdefault((table, name), n)
                if "." in name and not m.group(1).startswith(("\"", "'")):  # clients.acme.rules = …
                    *head, last = name.split(".")
                    self.keys.setdefault((".".join([table, *head]).strip("."), last), n)

    def line(self, table: str, key: str | None = None) -> int:
        if key is not None and (table, key) in self.keys:
            return self.keys[(table, key)]
        return self.tables.get(table, 1)


def _split_dotted(text: str) -> list[str]:
    return re.findall(r"\"[^\"]*\"|'[^']*'|[^.]+", text)


def load_workspace(path: str | Path) -> Workspace:
    """Read and check tillpost.toml; raises WorkspaceError when it is unusable as a whole."""
    file = workspace_file(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise WorkspaceError(f"{file}: no such file (a workspace is a folder with {FILE_NAME})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise WorkspaceError(f"{file}: cannot be read: {e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        where = f"{file}:{m.group(1)}:{m.group(2)}" if m else str(file)
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e)) or "not TOML"
        raise WorkspaceError(f"{where}: error: {message}") from None
    ws = Workspace(file)
    from ..delivery.config import redact  # a credential written here by mistake is never quoted back

    ws.diagnostics.add_source(str(file), redact(text, data))
    where = _Locator(text)
    shown = str(file)

    def error(line: int, message: str, client: str | None = None) -> None:
        ws.diagnostics.error(Position(shown, line, 1), message)
        if client is not None:
            ws.broken.setdefault(client, []).append(message)

    for key in data:
        if key not in ("defaults", "clients"):
            error(where.line("", key) if (("", key) in where.keys) else where.line(key),
                  f"unknown table or key '{key}'{_hint(key, ('defaults', 'clients'))}; "
                  "a workspace has [defaults] and [clients.NAME]")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        error(where.line("", "defaults"), "'defaults' must be a table: [defaults]")
        defaults = {}
    for key in defaults:
        if key not in DEFAULT_KEYS:
            error(where.line("defaults", key), f"unknown key '{key}' in [defaults]{_hint(key, DEFAULT_KEYS)}; "
                  f"expected {', '.join(DEFAULT_KEYS)}")
    default_interval = _interval(defaults.get("interval", DEFAULT_INTERVAL),
                                 lambda m: error(where.line("defaults", "interval"), m))
    default_source = defaults.get("source")
    if default_source is not None and not isinstance(default_source, str):
        error(where.line("defaults", "source"), "source must be a string, e.g. \"lightspeed-retail\"")
        default_source = None
    if "secrets" in defaults:
        if isinstance(defaults["secrets"], str) and defaults["secrets"].strip():
            ws.secrets = (file.parent / defaults["secrets"])
        else:
            error(where.line("defaults", "secrets"), "secrets must be the path of a file, e.g. \"secrets.toml\"")

    clients = data.get("clients", {})
    if not isinstance(clients, dict) or not clients:
        raise WorkspaceError(f"{file}: error: no clients: add a table [clients.NAME] with rules and inbox for each")
    for name, table in clients.items():
        tname = f"clients.{name}"
        line = where.line(tname)
        if not NAME.fullmatch(name):
            error(line, f"client name '{name}': use letters, digits, '.', '_' and '-' (at most 100, starting with "
                  "a letter or digit): it names the client in the ledger, the dashboard and the logs", name)
            continue
        if not isinstance(table, dict):
            error(line, f"client '{name}' must be a table: [clients.{name}]", name)
            continue
        for key in table:
            if key not in CLIENT_KEYS:
                error(where.line(tname, key), f"unknown key '{key}' for client '{name}'{_hint(key, CLIENT_KEYS)}; "
                      f"expected {', '.join(CLIENT_KEYS)}", name)
        config = ClientConfig(name, Path(), Path(), line=line)
        for key in ("rules", "inbox"):
            value = table.get(key)
            if not isinstance(value, str) or not value.strip():
                error(where.line(tname, key) if key in table else line,
                      f"client '{name}' needs {key} = \"…\" (a path relative to the workspace)", name)
            else:
                setattr(config, key, file.parent / value)
        source = table.get("source", default_source)
        if source is not None and not isinstance(source, str):
            error(where.line(tname, "source"), "source must be a string, e.g. \"lightspeed-retail\"", name)
        else:
            config.source = _check_source(source, lambda m: error(where.line(tname, "source"), m, name))
        for key in ("stores", "registers"):
            value = table.get(key, [])
            if not (isinstance(value, list) and all(isinstance(v, str) and v for v in value)):
                error(where.line(tname, key), f"{key} must be a list of names, e.g. {key} = [\"AMS01\"]", name)
            else:
                setattr(config, key, tuple(value))
        config.interval = default_interval
        if "interval" in table:
            config.interval = _interval(table["interval"], lambda m: error(where.line(tname, "interval"), m, name))
        if "export" in table:
            config.export = _export(table["export"], file.parent,
                                    lambda m: error(where.line(tname, "export"), m, name))
        if name not in ws.broken:
            ws.clients[name] = config
    return ws


def _hint(word: str, choices) -> str:
    close = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _interval(value, report) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 720:
        report(f"interval is minutes between runs, a whole number from 0 to 720 (0: as files arrive), "
               f"not {value!r}")
        return DEFAULT_INTERVAL
    return value


def _check_source(source: str | None, report) -> str | None:
    if source is None:
        return None
    from ..sources import ADAPTERS, NORMALIZED, split_source

    try:
        name, _ = split_source(source)
    except ValueError as e:
        report(f"source '{source}': {e}")
        return None
    if name not in ADAPTERS and name != NORMALIZED:
        report(f"unknown source '{name}'{_hint(name, [NORMALIZED, *ADAPTERS])}; expected one of "
               f"{', '.join([NORMALIZED, *ADAPTERS])}")
        return None
    return source


def _export(value, folder: Path, report) -> dict | None:
    from ..targets import targets

    if not isinstance(value, dict):
        report("export must be a table: export = { target = \"exact-globe\", to = \"out/NAME\" }")
        return None
    ok = True
    for key in value:
        if key not in EXPORT_KEYS:
            report(f"unknown key '{key}' in export{_hint(key, EXPORT_KEYS)}; expected {', '.join(EXPORT_KEYS)}")
            ok = False
    target = value.get("target")
    if not isinstance(target, str) or target not in targets():
        report(f"export target '{target}'{_hint(str(target), targets())}: expected one of {', '.join(targets())}")
        ok = False
    elif targets()[target].renders == "invoices":  # UBL: from the receipts' lines, which the ledger does not keep
        report(f"export target '{target}' renders invoices from the receipts, which the ledger does not keep; "
               "it cannot be exported from the ledger")
        ok = False
    to = value.get("to")
    if not isinstance(to, str) or not to.strip():
        report("export needs to = \"…\": the folder the exported documents are written to")
        ok = False
    deliver = value.get("deliver")
    if deliver is not None:
        from ..delivery.config import parse_deliver  # §14: package, base_url, administration, credentials

        deliver = parse_deliver(deliver, target if isinstance(target, str) else None, report)
        ok = ok and deliver is not None
    if not ok:
        return None
    return {"target": target, "to": folder / to, "deliver": deliver}
