"""The operating layer: many clients, unattended (SPEC §12).

`workspace` reads `tillpost.toml`; `worker` books every client's inbox on its
interval, in-process on an SQLite ledger or through a PostgreSQL job queue
shared by any number of workers. It sits above `tillpost.ledger` and calls
the engine only through it.
"""
