"""From the ledger into the accounting package (SPEC §14).

    export.py       every final entry not yet exported to a target → one export (a file or a folder),
                    recorded in the ledger: which entries, which documents, the file and its SHA-256
    deliver.py      the exported documents posted to the package's API, each exactly once; the
                    package's answer (accepted with its id, or rejected with its message) recorded
    transport.py    what a package's transport does (post, find by reference), and the HTTP
                    faults every package shares (429 with Retry-After, 5xx, timeouts, tokens)
    moneybird.py    Moneybird: external sales invoices and general journal documents
    exact_online.py Exact Online REST: SalesEntries, CashEntries, GeneralJournalEntries (OAuth)
    credentials.py  the package's credentials, from the environment or the workspace's secrets file
    config.py       a client's `export.deliver` table of the workspace

It sits above the ledger: its tables are the `exports` extension of the ledger's schema
(`ledger/extensions.py`), and what went out per day is read by `ledger/exported.py` for `status`.
"""
