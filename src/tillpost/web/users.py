"""The dashboard's users: names, argon2 password hashes, a role and the clients granted.

    tillpost users add NAME --role viewer|operator [--clients A,B] --db DB   (password: one line on stdin)
    tillpost users list --db DB
    tillpost users remove NAME --db DB

Users are global, not per client: one table in the ledger (the `users` extension of
`ledger/store.py`). A user without `--clients` sees every client, also those added
later; with it, only those named (names of clients the ledger does not hold yet may be
granted: a workspace client that has not run yet).

The session key. The dashboard signs its session cookies with a key made once, at
random, and kept in the ledger (`web_secrets`), rather than one taken from the
environment: every dashboard serving the same ledger then accepts the same sessions
without configuration, sessions survive a restart, and there is no variable to forget,
to leave at a default, or to leak through a process listing. It is no weaker than a key
in the environment: whoever can read the ledger can also write its users table.
A session ends when its user is removed or given a new password (checked at every request).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import secrets
from dataclasses import dataclass

from ..ledger.store import LedgerError, Store

ROLES = ("viewer", "operator")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # as the workspace names clients
MIN_PASSWORD = 8
SESSION_KEY = "session"


class UserError(Exception):
    """A user cannot be added, found or removed as asked."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    clients: tuple[str, ...] | None  # None: every client
    created: str
    hash: str = ""

    @property
    def operator(self) -> bool:
        return self.role == "operator"

    def sees(self, client: str) -> bool:
        return self.clients is None or client in self.clients

    @property
    def stamp(self) -> str:
        """Changes when the password changes: a session made under the old one ends."""
        return hashlib.sha256(self.hash.encode()).hexdigest()[:16]

    def as_dict(self) -> dict:
        return {"name": self.name, "role": self.role,
                "clients": list(self.clients) if self.clients is not None else None, "created": self.created}


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


# Verifying against this when the name is unknown costs what a known name costs: the time a
# sign-in takes does not tell whether the name exists.
_DUMMY: list[str] = []


def verify_password(user: User | None, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_hex(16)))
    try:
        return _hasher().verify(user.hash if user else _DUMMY[0], password) and user is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_password(password: str) -> str:
    """The password as read from one line of stdin (its line ending taken off)."""
    password = password.removesuffix("\n").removesuffix("\r")
    if "\n" in password or "\r" in password:
        raise UserError("the password is one line on stdin")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must be at least {MIN_PASSWORD} characters long "
                        "(give it as one line on stdin)")
    return password


def parse_clients(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise UserError("--clients is empty: name the clients (A,B), or leave it out for every client")
    for n in names:
        if not CLIENT_NAME.fullmatch(n):
            raise UserError(f"--clients: '{n}' is not a client name (letters, digits, '.', '_' and '-')")
    return names


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _row_user(row) -> User:
    name, hash_, role, clients, created = row
    return User(name, role, tuple(json.loads(clients)) if clients is not None else None, created, hash_)


def find_user(store: Store, name: str) -> User | None:
    rows = store.query("SELECT name, hash, role, clients, created FROM users WHERE name = ?", (name,))
    return _row_user(rows[0]) if rows else None


def list_users(store: Store) -> list[User]:
    if store.version() == 0 or "users" not in store.applied_extensions():
        return []
    return [_row_user(r) for r in store.query("SELECT name, hash, role, clients, created FROM users ORDER BY name")]


def add_user(store: Store, name: str, role: str, clients: tuple[str, ...] | None, password: str,
             replace: bool = False) -> User:
    """Add (or, `replace`, replace) a user, in one transaction of its own."""
    if not NAME.fullmatch(name or ""):
        raise UserError(f"user name '{name}': use letters, digits, '.', '_', '@' and '-' (at most 100)")
    if role not in ROLES:
        raise UserError(f"role '{role}': expected viewer or operator")
    user = User(name, role, clients, _now(), hash_password(password))
    store.begin_shared()
    try:
        exists = store.query("SELECT 1 FROM users WHERE name = ?", (name,))
        if exists and not replace:
            raise UserError(f"user '{name}' exists already; `tillpost users add {name} --replace …` gives it a new "
                            "password, role and clients")
        if exists:
            store.execute("DELETE FROM users WHERE name = ?", (name,))
        store.execute("INSERT INTO users (name, hash, role, clients, created) VALUES (?, ?, ?, ?, ?)",
                      (name, user.hash, role, json.dumps(list(clients)) if clients is not None else None,
                       user.created))
        _ensure_secret(store)
        store.commit()
    except BaseException:
        store.rollback()
        raise
    return user


def remove_user(store: Store, name: str) -> None:
    store.begin_shared()
    try:
        if not store.query("SELECT 1 FROM users WHERE name = ?", (name,)):
            known = [n for (n,) in store.query("SELECT name FROM users ORDER BY name")]
            raise UserError(f"no user '{name}'" + (f"; the users are {', '.join(known)}" if known else
                                                   "; there are no users"))
        store.execute("DELETE FROM users WHERE name = ?", (name,))
        store.commit()
    except BaseException:
        store.rollback()
        raise


def _ensure_secret(store: Store) -> None:
    if not store.query("SELECT 1 FROM web_secrets WHERE name = ?", (SESSION_KEY,)):
        store.execute("INSERT INTO web_secrets (name, value, created) VALUES (?, ?, ?)",
                      (SESSION_KEY, secrets.token_urlsafe(48), _now()))


def session_secret(store: Store, renew: bool = False) -> str:
    """The key that signs the dashboard's session cookies (made once; `renew` makes a new one)."""
    if not renew and store.is_current():
        rows = store.query("SELECT value FROM web_secrets WHERE name = ?", (SESSION_KEY,))
        if rows:
            return rows[0][0]
    if store.readonly:
        raise LedgerError("the ledger has no dashboard users yet: add one with `tillpost users add NAME --role "
                          "operator --db DB`")
    store.begin_shared()
    try:
        if renew:
            store.execute("DELETE FROM web_secrets WHERE name = ?", (SESSION_KEY,))
        _ensure_secret(store)
        value = store.query("SELECT value FROM web_secrets WHERE name = ?", (SESSION_KEY,))[0][0]
        store.commit()
    except BaseException:
        store.rollback()
        raise
    return value
