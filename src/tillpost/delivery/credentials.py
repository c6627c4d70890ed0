"""A package's credentials: from the environment or the workspace's secrets file, never elsewhere.

The workspace names where each credential is, never the credential itself:

    deliver = { package = "moneybird", administration = "123456789",
                credentials = { token = "env:MONEYBIRD_TOKEN" } }
    deliver = { package = "exact-online", credentials = { client_id = "secrets:bakkerij.client_id",
                client_secret = "secrets:bakkerij.client_secret", refresh_token = "secrets:bakkerij.refresh_token" } }

`env:NAME` is an environment variable; `secrets:KEY` a key of the secrets file that
`[defaults] secrets = "secrets.toml"` names (a dotted KEY for a table: `bakkerij.token`).
A token the package hands out in exchange for an old one (Exact Online rotates its
refresh token at every use) is written back there, in place: the environment cannot
keep it, and the ledger never holds a credential.

Values never appear in a message: `Credentials.scrub` takes them out of anything the
package says back before it is logged or recorded, and `repr` shows only where they are.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENV, SECRETS = "env:", "secrets:"


class CredentialError(Exception):
    """A credential cannot be had: where it should be, and what to do."""


def check_source(name: str, where) -> str | None:
    """Why `where` is no place for credential `name` (None when it is one)."""
    if not isinstance(where, str) or not where.strip():
        return f"credential '{name}' must say where it is: \"env:VARIABLE\" or \"secrets:KEY\""
    if where.startswith(ENV):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", where[len(ENV):]):
            return f"credential '{name}': '{where[len(ENV):]}' is not the name of an environment variable"
        return None
    if where.startswith(SECRETS):
        if not re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*", where[len(SECRETS):]):
            return f"credential '{name}': '{where[len(SECRETS):]}' is not a key of the secrets file (letters, " \
                   "digits, '_', '-', dotted for a table)"
        return None
    # A value here would be a credential written into tillpost.toml: say so without repeating it.
    return (f"credential '{name}' is not \"env:VARIABLE\" or \"secrets:KEY\": credentials are never written in "
            "tillpost.toml; put it in the environment or in the secrets file and name it here")


@dataclass
class Credentials:
    """The credentials of one client's package; `values` are never shown."""

    values: dict[str, str] = field(default_factory=dict, repr=False)
    sources: dict[str, str] = field(default_factory=dict)
    secrets_file: Path | None = None

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def require(self, name: str) -> str:
        value = self.values.get(name)
        if not value:
            where = self.sources.get(name)
            raise CredentialError(f"credential '{name}' is not configured" + (f" ({where} is empty)" if where else
                                  ": add it to export.deliver.credentials in tillpost.toml"))
        return value

    def keep(self, name: str, value: str) -> None:
        """A new value the package issued (a rotated token): used from now on, and kept in the
        secrets file when the credential lives there."""
        self.values[name] = value
        where = self.sources.get(name, "")
        if where.startswith(SECRETS) and self.secrets_file is not None:
            update_secret(self.secrets_file, where[len(SECRETS):], value)

    def scrub(self, text: str) -> str:
        """`text` without any credential value in it."""
        for value in sorted((v for v in self.values.values() if v and len(v) >= 4), key=len, reverse=True):
            text = text.replace(value, "***")
        return text


def resolve(spec: Mapping[str, str], secrets_file: Path | None, env: Mapping[str, str] | None = None) -> Credentials:
    """Look each credential up where the workspace says it is."""
    env = os.environ if env is None else env
    creds = Credentials(sources=dict(spec), secrets_file=secrets_file)
    secrets: dict | None = None
    for name, where in spec.items():
        problem = check_source(name, where)
        if problem:
            raise CredentialError(problem)
        if where.startswith(ENV):
            var = where[len(ENV):]
            value = env.get(var)
            if not value:
                raise CredentialError(f"credential '{name}': the environment variable {var} is not set")
        else:
            if secrets is None:
                secrets = read_secrets(secrets_file)
            value = _lookup(secrets, where[len(SECRETS):])
            if not isinstance(value, str) or not value:
                raise CredentialError(f"credential '{name}': the secrets file {secrets_file} has no text at key "
                                      f"'{where[len(SECRETS):]}'")
        creds.values[name] = value
    return creds


def read_secrets(path: Path | None) -> dict:
    if path is None:
        raise CredentialError("credentials name the secrets file (secrets:KEY) but the workspace names none: add "
                              "`secrets = \"secrets.toml\"` to [defaults] in tillpost.toml")
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CredentialError(f"{path}: the secrets file does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CredentialError(f"{path}: the secrets file cannot be read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        # The parser's message quotes no value, only where: safe to show.
        raise CredentialError(f"{path}: the secrets file is not TOML: {e}") from None


def _lookup(data: dict, key: str):
    node = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


_HEADER = re.compile(r"\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")


def update_secret(path: Path, key: str, value: str) -> None:
    """Set `key` (dotted: table.key) of the TOML file at `path` to the string `value`, in place.

    Only that line changes: comments and layout stay. The file is replaced atomically with
    its permissions kept, and read back before it replaces the old one; a key that is not
    there as `key = "…"` in its table is an error (tillpost never adds credentials)."""
    import json
    import tempfile

    path = Path(path)
    text = path.read_text(encoding="utf-8")
    *table, name = key.split(".")
    lines = text.splitlines(keepends=True)
    current: list[str] = []
    # key = "value" or 'value', then maybe a comment: only the value is replaced
    line_re = re.compile(r"([ \t]*)(" + re.escape(name) + r"|\"" + re.escape(name) + r"\")([ \t]*=[ \t]*)"
                         r"(\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*')([ \t]*(?:#[^\n]*)?)(\r?\n)?$")
    found = None
    for n, line in enumerate(lines):
        m = _HEADER.match(line)
        if m:
            current = [p.strip().strip("\"'") for p in m.group(1).split(".")]
            continue
        if current == table and line_re.match(line):
            found = n
            break
    if found is None:
        raise CredentialError(f"{path}: cannot keep the new value of '{key}': no line `{name} = \"…\"` in "
                              f"[{'.'.join(table)}]" if table else f"{path}: cannot keep the new value of '{key}': "
                              f"no line `{name} = \"…\"` at the top of the file")
    m = line_re.match(lines[found])
    lines[found] = f"{m.group(1)}{m.group(2)}{m.group(3)}{json.dumps(value)}{m.group(5)}{m.group(6) or ''}"
    new = "".join(lines)
    if _lookup(tomllib.loads(new), key) != value:  # a layout this edit does not understand: change nothing
        raise CredentialError(f"{path}: cannot keep the new value of '{key}' in place; write it yourself")
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=".secrets-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(new)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
