"""A workspace, a ledger with some history, users, and a signed-in client: for the dashboard's tests."""

from __future__ import annotations

import re
from pathlib import Path

from tillpost.api import load_rules
from tillpost.engine.receipts import Records
from tillpost.ledger import Selection, Store, process, run_info
from tillpost.web.users import add_user

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "tillpost" / "rules" / "examples"
BAKERY = EXAMPLES / "bakery.rules"
PASSWORD = "correct horse battery"
GIFTCARD_RULES = ("method giftcard turnover\n"
                  "when payment method=giftcard post MEM pin -> debiteuren\n")


def make_workspace(tmp_path: Path, clients=("jansen", "devries"), name: str = "ws") -> Path:
    """Each client its own copy of the bakery's rules (one is fixed without touching the others)."""
    ws = tmp_path / name
    (ws / "rules").mkdir(parents=True)
    text = "[defaults]\ninterval = 0\n"
    for client in clients:
        (ws / "rules" / f"{client}.rules").write_text(BAKERY.read_text())
        (ws / "inbox" / client).mkdir(parents=True)
        text += f'\n[clients.{client}]\nrules = "rules/{client}.rules"\ninbox = "inbox/{client}"\n'
    (ws / "tillpost.toml").write_text(text)
    return ws


def rules_of(ws: Path, client: str) -> Path:
    return ws / "rules" / f"{client}.rules"


def accept_giftcards(ws: Path, client: str) -> None:
    """The rule fix an operator makes: giftcard payments are booked like PIN."""
    path = rules_of(ws, client)
    path.write_text(path.read_text() + GIFTCARD_RULES)


def book(ws: Path, db: str, client: str, receipts: list[dict], name: str = "<test>"):
    """A final run of these receipts for the client, as `tillpost process RULES FILE --final` books it."""
    rules = rules_of(ws, client)
    store = Store.open(db, client=client)
    try:
        return process(load_rules(rules), store, [Records(name, receipts)], Selection(), final=True,
                       info=run_info("process --final", str(rules), [name], Selection()))
    finally:
        store.close()


def add_users(db: str, users: dict[str, tuple[str, tuple[str, ...] | None]]) -> None:
    store = Store.open(db)
    try:
        for name, (role, clients) in users.items():
            add_user(store, name, role, clients, PASSWORD)
    finally:
        store.close()


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


def signin(client, name: str, password: str = PASSWORD) -> str:
    """Sign the test client in; returns the session's CSRF token."""
    token = csrf_of(client.get("/signin").text)
    answer = client.post("/signin", data={"name": name, "password": password, "csrf": token, "next": "/"},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/").text)


def receipt(rid: str, amount: str = "3.25", method: str = "cash", date: str = "2026-11-20", store: str = "AMS01",
            register: str = "K1", number: str | None = None, status: str = "completed", description: str = "Brood",
            **extra) -> dict:
    """A one-line receipt of bread the bakery's rules book, paid in full by `method`."""
    r = {"id": rid, "number": number or rid.rsplit("-", 1)[-1], "source": "test", "store": store,
         "register": register, "date": date, "created": f"{date}T10:00:00+01:00", "status": status,
         "currency": "EUR", "prices_include_vat": True,
         "lines": [{"sku": "X", "description": description, "category": "brood", "quantity": "1",
                    "unit_price": amount, "vat": "low", "cost": "1.10"}],
         "payments": [{"method": method, "amount": amount}]}
    r.update(extra)
    return r


def history(ws: Path, db: str) -> None:
    """Two clients' books: jansen has a complete day, a day with a giftcard receipt in error and a
    day with a receipt number missing; devries has one complete day."""
    book(ws, db, "jansen", [receipt("J-K1-1", number="1"), receipt("J-K1-2", number="2", method="pin")])
    book(ws, db, "jansen", [receipt("J-K1-3", number="3", date="2026-11-21"),
                            receipt("J-K1-4", number="4", date="2026-11-21", method="giftcard", amount="12.50"),
                            receipt("J-K1-5", number="5", date="2026-11-21", method="pin")])
    book(ws, db, "jansen", [receipt("J-K1-6", number="6", date="2026-11-22"),
                            receipt("J-K1-8", number="8", date="2026-11-22")])
    book(ws, db, "devries", [receipt("D-K1-1", number="1", store="UTR"), receipt("D-K1-2", number="2", store="UTR")])


def without(d: dict, *keys) -> dict:
    return {k: v for k, v in d.items() if k not in keys}
