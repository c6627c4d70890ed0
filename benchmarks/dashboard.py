"""Benchmark: the dashboard's two heaviest pages, rendered as a signed-in browser gets them.

    python benchmarks/dashboard.py [--day-receipts 20000] [--clients 500] [--days 14] [--per-day 30]
                                   [--runs 3] [--db postgresql://…]

1. A day of --day-receipts receipts (the bakery's generated day: three stores, cash, PIN, invoices,
   a few in error and open): the day page (status of the day, the first page of each store's
   receipts, the first page of its entries) and its JSON twin (the status report).
2. An overview of --clients clients, each with --days days of --per-day receipts: the overview page
   with every client's last run, open and errors, and its days not complete. Cold: the day states
   are read from the ledger (as after a restart, or when every client ran); warm: they are kept from
   the last view (a client's are read again only after a run of that client).

Each is timed --runs times through Starlette's TestClient (ASGI, templates and JSON included) and
the median printed. The goal is under a second each. Not a test: figures depend on the machine. The
ledgers are built with final runs first (that takes a while; the time is printed, not counted).
--db runs it on a PostgreSQL database (its schema is emptied first!) instead of temporary SQLite files.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from book_day import EXAMPLES, generate_day  # noqa: E402

from tillpost.api import load_rules, read_receipts  # noqa: E402
from tillpost.engine.receipts import Records  # noqa: E402
from tillpost.ledger import Selection, Store, process, run_info  # noqa: E402
from tillpost.web.app import create_app  # noqa: E402
from tillpost.web.days import DayCache  # noqa: E402
from tillpost.web.users import add_user  # noqa: E402

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
PASSWORD = "benchmark password"


def fresh(db: str | None, folder: Path, name: str) -> str:
    if db is None:
        return str(folder / f"{name}.sqlite")
    import psycopg

    with psycopg.connect(db, autocommit=True) as conn:
        schema = conn.execute("SELECT current_schema()").fetchone()[0]
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    return db


def final(db: str, client: str, ruleset, rules: Path, records: Records) -> None:
    store = Store.open(db, client=client)
    try:
        process(ruleset, store, [records], Selection(), final=True,
                info=run_info("process --final", str(rules), [records.source], Selection()))
    finally:
        store.close()


def workspace(folder: Path, clients: list[str]) -> Path:
    ws = folder / "ws"
    (ws / "inbox").mkdir(parents=True, exist_ok=True)
    text = "[defaults]\ninterval = 0\n"
    for c in clients:
        (ws / "inbox" / c).mkdir(exist_ok=True)
        text += f'\n[clients.{c}]\nrules = "{EXAMPLES / "bakery.rules"}"\ninbox = "inbox/{c}"\n'
    (ws / "tillpost.toml").write_text(text)
    return ws


def signed_in(ws: Path, db: str):
    from starlette.testclient import TestClient

    store = Store.open(db)
    try:
        add_user(store, "bench", "operator", None, PASSWORD, replace=True)
    finally:
        store.close()
    app = create_app(ws, db)
    client = TestClient(app)
    form = client.get("/signin").text
    token = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = client.post("/signin", data={"name": "bench", "password": PASSWORD, "csrf": token},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return app, client


def timed(client, path: str, runs: int, before=None) -> tuple[list[float], int]:
    times, size = [], 0
    for _ in range(runs):
        if before:
            before()
        started = time.perf_counter()
        answer = client.get(path)
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:500])
        size = len(answer.content)
    return times, size


def show(label: str, times: list[float], size: int) -> None:
    print(f"  {label:<44} median {statistics.median(times):.3f} s  "
          f"({', '.join(f'{t:.3f}' for t in times)}; {size / 1024:,.0f} KB)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--day-receipts", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--per-day", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", default=None, help="a PostgreSQL URL (its schema is emptied) instead of SQLite")
    args = parser.parse_args()
    rules = EXAMPLES / "bakery.rules"
    ruleset = load_rules(rules)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)

        # -- a day of many receipts ------------------------------------------------------------------
        db = fresh(args.db, folder, "day")
        day = folder / "day.jsonl"
        generate_day(args.day_receipts, day)
        lines = day.read_text().splitlines()
        rnd = random.Random(7)
        for i in rnd.sample(range(len(lines)), max(1, len(lines) // 400)):  # some in error, some open
            r = json.loads(lines[i])
            if rnd.random() < 0.5:
                r["payments"] = [{"method": "giftcard", "amount": r["payments"][0]["amount"]}]
            else:
                r["status"] = "open"
            lines[i] = json.dumps(r)
        day.write_text("\n".join(lines) + "\n")
        started = time.perf_counter()
        final(db, "bakkerij", ruleset, rules, read_receipts(str(day), ruleset))
        print(f"a day of {args.day_receipts:,} receipts booked in {time.perf_counter() - started:.1f} s "
              f"({'PostgreSQL' if args.db else 'SQLite'})")
        _, client = signed_in(workspace(folder, ["bakkerij"]), db)
        show("day page (HTML)", *timed(client, "/clients/bakkerij/days/2026-11-20", args.runs))
        show("day page, one store (HTML)", *timed(client, "/clients/bakkerij/days/2026-11-20?store=AMS01",
                                                  args.runs))
        show("day's JSON twin (the status report)", *timed(client, "/api/clients/bakkerij/days/2026-11-20",
                                                           args.runs))
        show("a page of receipts, searched (htmx)",
             *timed(client, "/clients/bakkerij/days/2026-11-20/receipts?store=AMS01&list=booked&q=1234&page=1",
                    args.runs))

        # -- many clients -----------------------------------------------------------------------------
        db = fresh(args.db, folder, "clients")
        names = [f"client-{n:03d}" for n in range(args.clients)]
        started = time.perf_counter()
        for n, name in enumerate(names):
            receipts = []
            for d in range(args.days):
                date = f"2026-11-{d + 1:02d}"
                for i in range(args.per_day):
                    k = d * args.per_day + i + 1
                    if (n + k) % 997 == 0:
                        continue  # a number missing now and then
                    method = "giftcard" if (n * 31 + k) % 1499 == 0 else ("pin" if k % 3 else "cash")
                    amount = f"{2 + k % 17}.{k % 100:02d}"
                    receipts.append({"id": f"{name}-{k}", "number": str(k), "source": "bench", "store": "S1",
                                     "register": "K1", "date": date, "created": f"{date}T10:00:00+01:00",
                                     "status": "open" if (n + k) % 1201 == 0 else "completed", "currency": "EUR",
                                     "prices_include_vat": True,
                                     "lines": [{"sku": "X", "description": "Brood", "category": "brood",
                                                "quantity": "1", "unit_price": amount, "vat": "low"}],
                                     "payments": [{"method": method, "amount": amount}]})
            final(db, name, ruleset, rules, Records("<bench>", receipts))
        total = args.clients * args.days * args.per_day
        print(f"{args.clients} clients × {args.days} days × {args.per_day} receipts (~{total:,} receipts) booked "
              f"in {time.perf_counter() - started:.1f} s")
        app, client = signed_in(workspace(folder, names), db)

        def forget():
            app.state.dashboard.cache = DayCache()

        show("overview (HTML), cold", *timed(client, "/", args.runs, before=forget))
        show("overview (HTML), warm", *timed(client, "/", args.runs))
        show("overview's JSON twin, warm", *timed(client, "/api/clients", args.runs))
        show("a client's calendar (HTML), cold", *timed(client, "/clients/client-007", args.runs, before=forget))
        show("errors of every client (HTML)", *timed(client, "/errors", args.runs))


if __name__ == "__main__":
    main()
