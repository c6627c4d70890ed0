"""The tables features add to the ledger (`store.EXTENSIONS`), defined here with the rest of the
schema so that every command, whatever it imports, knows every table a ledger may hold. In the
order they are applied: append, never reorder or edit one that has landed.

`users` — the dashboard's users (tillpost users add, SPEC §13, tillpost.web): global, not per
client. `clients` is a JSON list of the client names granted, NULL for every client. `web_secrets`
holds the key that signs the dashboard's session cookies, made once, shared by every dashboard on
the ledger.

`exports` — the tables of export and delivery (SPEC §14, tillpost.delivery):

    exports           one row per export: target, where it was written, its SHA-256, when, by whom,
                      from which rule file, and the client's last final run at that time
    export_entries    which entry went into which export (and which document of it); an entry goes
                      to a target once: the primary key (client, target, entry) refuses a second time
    export_documents  the documents of an export a package takes one by one (an invoice, a journal
                      entry): the stable reference tillpost gave it and the body that is posted
    deliveries        each such document's delivery: pending, accepted or rejected, the package's id
                      and number or its message, attempts, and whether a post is out whose answer
                      never came (`sent`): then the package is asked before anything is posted again
    delivered         a document the package accepted: one row, never changed or removed; a
                      document is accepted once and a package id belongs to one document
    delivery_leases   which process delivers a client's documents now, until when: one at a time

Exports, their entries and documents and the accepted deliveries are immutable, like entries.
References are unique per client in every table that holds them.
"""

from __future__ import annotations

from .store import EXTENSIONS, Extension

USERS = Extension("users", (
    """CREATE TABLE users (
        name TEXT PRIMARY KEY,
        hash TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'operator')),
        clients TEXT,
        created TEXT NOT NULL)""",
    "CREATE TABLE web_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL, created TEXT NOT NULL)",
))

EXPORTS = Extension(
    name="exports",
    statements=(
        """CREATE TABLE exports (
            client {int} NOT NULL REFERENCES clients (id),
            id {int} NOT NULL,
            target TEXT NOT NULL,
            file TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            created TEXT NOT NULL,
            run {int} NOT NULL,
            rules TEXT NOT NULL,
            rules_sha256 TEXT NOT NULL,
            version TEXT NOT NULL,
            made_by TEXT NOT NULL,
            entries {int} NOT NULL,
            documents {int} NOT NULL,
            PRIMARY KEY (client, id))""",
        """CREATE TABLE export_entries (
            client {int} NOT NULL,
            target TEXT NOT NULL,
            entry {int} NOT NULL,
            export {int} NOT NULL,
            document {int} NOT NULL,
            PRIMARY KEY (client, target, entry),
            UNIQUE (client, export, document))""",
        """CREATE TABLE export_documents (
            client {int} NOT NULL,
            export {int} NOT NULL,
            document {int} NOT NULL,
            reference TEXT NOT NULL,
            kind TEXT NOT NULL,
            date TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (client, export, document),
            UNIQUE (client, reference))""",
        """CREATE TABLE deliveries (
            client {int} NOT NULL,
            export {int} NOT NULL,
            document {int} NOT NULL,
            reference TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'rejected')),
            sent {int} NOT NULL CHECK (sent IN (0, 1)),
            package TEXT,
            package_id TEXT,
            number TEXT,
            message TEXT,
            attempts {int} NOT NULL,
            updated TEXT NOT NULL,
            PRIMARY KEY (client, export, document),
            UNIQUE (client, reference))""",
        "CREATE INDEX deliveries_state ON deliveries (client, state)",
        """CREATE TABLE delivered (
            client {int} NOT NULL,
            export {int} NOT NULL,
            document {int} NOT NULL,
            reference TEXT NOT NULL,
            package TEXT NOT NULL,
            package_id TEXT NOT NULL,
            number TEXT,
            accepted TEXT NOT NULL,
            PRIMARY KEY (client, export, document),
            UNIQUE (client, reference),
            UNIQUE (client, package, package_id))""",
        """CREATE TABLE delivery_leases (
            client {int} NOT NULL PRIMARY KEY,
            holder TEXT NOT NULL,
            expires TEXT NOT NULL)""",
    ),
    immutable=("exports", "export_entries", "export_documents", "delivered"),
)

for _extension in (USERS, EXPORTS):
    if all(e.name != _extension.name for e in EXTENSIONS):
        EXTENSIONS.append(_extension)
