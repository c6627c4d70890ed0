"""The operator's dashboard (SPEC §13) through Starlette's TestClient, on SQLite and PostgreSQL (the
`db` fixture): every page and its JSON twin, sign-in and access, CSRF, the actions ending where the
command line ends, escaping, and a page read while a worker books."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dashboards import (PASSWORD, accept_giftcards, add_users, book, csrf_of, history, make_workspace,
                        receipt, rules_of, signin, without)
from test_ledger import dump, tp
from tillpost.cli import service as _service_cli  # noqa: F401  (registers the commands)
from tillpost.cli import web as _web_cli  # noqa: F401
from tillpost.ledger import Store
from tillpost.ledger.status import status
from tillpost.web.app import Throttle, create_app
from tillpost.web.days import DayCache

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

USERS = {"olga": ("operator", None), "victor": ("viewer", ("jansen",)), "otto": ("operator", ("devries",))}


@pytest.fixture
def ws(tmp_path):
    return make_workspace(tmp_path)


@pytest.fixture
def ledger(ws, db):
    history(ws, db)
    add_users(db, USERS)
    return db


class Sleeps:
    """The sign-in's waits, recorded instead of waited (the clock is the test's)."""

    def __init__(self):
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def app(ws, ledger, sleeps):
    return create_app(ws, ledger, throttle=Throttle(clock=sleeps.clock), sleep=sleeps.sleep)


def client_for(app):
    from starlette.testclient import TestClient

    return TestClient(app)


@pytest.fixture
def olga(app):
    c = client_for(app)
    c.csrf = signin(c, "olga")
    return c


@pytest.fixture
def victor(app):
    c = client_for(app)
    c.csrf = signin(c, "victor")
    return c


def state(db) -> dict:
    """The books (dump of test_ledger) without the dashboard's users."""
    return without(dump(db), "users", "web_secrets")


# -- signing in ---------------------------------------------------------------------------------


def test_anonymous_pages_redirect_to_the_sign_in_form_and_the_api_answers_401(app):
    c = client_for(app)
    first = c.get("/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/signin"
    deep = c.get("/clients/jansen/days/2026-11-21?store=AMS01", follow_redirects=False)
    assert deep.status_code == 303 and deep.headers["location"] == \
        "/signin?next=%2Fclients%2Fjansen%2Fdays%2F2026-11-21%3Fstore%3DAMS01"
    form = c.get("/signin")
    assert form.status_code == 200
    assert 'type="password"' in form.text and 'type="hidden" name="csrf"' in form.text
    for path in ("/api/clients", "/api/clients/jansen", "/api/errors", "/api/clients/jansen/days/2026-11-20"):
        answer = c.get(path)
        assert answer.status_code == 401 and answer.json() == {"error": "sign in first (POST /signin)"}
    # Signing in leads back where the user was going.
    token = csrf_of(c.get("/signin?next=/errors").text)
    signed = c.post("/signin", data={"name": "olga", "password": PASSWORD, "csrf": token, "next": "/errors"},
                    follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/errors"
    cookie = signed.headers["set-cookie"].lower()
    assert cookie.startswith("tillpost_session=") and "httponly" in cookie and "samesite=lax" in cookie
    assert c.get("/errors").status_code == 200


def test_a_sign_in_without_its_csrf_token_is_refused(app):
    c = client_for(app)
    c.get("/signin")
    for token in (None, "forged"):
        data = {"name": "olga", "password": PASSWORD, "next": "/"}
        if token:
            data["csrf"] = token
        answer = c.post("/signin", data=data, follow_redirects=False)
        assert answer.status_code == 403
        assert c.get("/", follow_redirects=False).status_code == 303  # still signed out


def test_wrong_passwords_are_slowed_down_doubling_and_refused_while_waiting(app, sleeps):
    c = client_for(app)

    def attempt(name, password):
        token = csrf_of(c.get("/signin").text)
        return c.post("/signin", data={"name": name, "password": password, "csrf": token, "next": "/"},
                      follow_redirects=False)

    wrong = attempt("olga", "not the password")
    assert wrong.status_code == 401 and "Wrong name or password." in wrong.text
    assert sleeps.waits == [0.5]
    # While the wait runs, another attempt for that name (or from that address) is not even checked.
    refused = attempt("olga", PASSWORD)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert "Too many wrong passwords" in refused.text
    sleeps.now += 0.6
    assert attempt("olga", "still wrong").status_code == 401
    sleeps.now += 1.1
    assert attempt("olga", "wrong again").status_code == 401
    assert sleeps.waits == [0.5, 1.0, 2.0]
    # An unknown name gets the same answer as a wrong password.
    sleeps.now += 2.1
    unknown = attempt("nobody", "whatever")
    assert unknown.status_code == 401 and "Wrong name or password." in unknown.text
    sleeps.now += 20
    assert attempt("olga", PASSWORD).status_code == 303
    assert Throttle(clock=sleeps.clock).failed([("name", "x")]) == 0.5


def test_the_wait_doubles_up_to_sixteen_seconds_and_is_forgotten_after_a_quarter_hour():
    now = [0.0]
    throttle = Throttle(clock=lambda: now[0])
    waits = []
    for _ in range(7):
        waits.append(throttle.failed([("name", "olga")]))
        now[0] += 100
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 16.0]
    now[0] += 1000
    assert throttle.failed([("name", "olga")]) == 0.5


def test_signing_out_needs_the_token_and_ends_the_session(olga):
    assert olga.post("/signout", data={"csrf": "forged"}, follow_redirects=False).status_code == 403
    assert olga.get("/", follow_redirects=False).status_code == 200
    out = olga.post("/signout", data={"csrf": olga.csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    assert olga.get("/", follow_redirects=False).status_code == 303


def test_a_redirect_after_signing_in_never_leaves_the_site(app):
    c = client_for(app)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        token = csrf_of(c.get("/signin").text)
        answer = c.post("/signin", data={"name": "olga", "password": PASSWORD, "csrf": token, "next": target},
                        follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/", target


def test_a_removed_user_or_a_new_password_ends_the_session(ledger, olga, victor):
    from tillpost.web.users import add_user, remove_user

    store = Store.open(ledger)
    try:
        remove_user(store, "victor")
        add_user(store, "olga", "operator", None, "another password", replace=True)
    finally:
        store.close()
    assert victor.get("/", follow_redirects=False).status_code == 303
    assert olga.get("/api/clients").status_code == 401


# -- pages and their twins ----------------------------------------------------------------------


def test_the_overview_shows_each_clients_state_at_a_glance(olga):
    page = olga.get("/")
    assert page.status_code == 200
    data = olga.get("/api/clients").json()
    rows = {c["client"]: c for c in data["clients"]}
    assert sorted(rows) == ["devries", "jansen"]
    j = rows["jansen"]
    assert j["last_run"]["id"] == 3 and j["last_run"]["age_seconds"] >= 0
    assert j["counts"] == {"booked": 6, "late": 0, "changed": 0, "open": 0, "voided": 0, "error": 1}
    assert (j["days"], j["days_incomplete"], j["days_with_errors"]) == (3, 2, 1)
    assert (j["oldest_incomplete"], j["latest_incomplete"]) == ("2026-11-21", "2026-11-22")
    assert (j["latest_day"], j["latest_day_state"]) == ("2026-11-22", "incomplete")
    assert j["rejected_deliveries"] is None  # the place §14 fills
    assert rows["devries"]["days_incomplete"] == 0 and rows["devries"]["latest_day_state"] == "complete"
    assert 'href="/clients/jansen/days/2026-11-22"' in page.text
    assert "Rejected deliveries" in page.text


def test_the_calendar_colours_each_day_as_status_decides(ws, db, olga):
    # A day complete, one with an error, one with a number missing, one with a receipt open, one whose
    # counter debtor does not net; and days where nothing arrived.
    book(ws, db, "jansen", [receipt("J-K1-9", number="9", date="2026-11-23", status="open"),
                            receipt("J-K1-10", number="10", date="2026-11-23")])
    odd = rules_of(ws, "devries")
    odd.write_text(odd.read_text().replace("when payment method=pin               post MEM pin -> debiteuren",
                                           "when payment method=pin               post MEM pin -> kas"))
    book(ws, db, "devries", [receipt("D-K1-3", number="3", store="UTR", date="2026-11-21", method="pin")])
    expected = {"jansen": {"2026-11-20": "complete", "2026-11-21": "errors", "2026-11-22": "incomplete",
                           "2026-11-23": "incomplete", "2026-11-24": "nothing", "2026-11-19": "nothing"},
                "devries": {"2026-11-20": "complete", "2026-11-21": "incomplete", "2026-11-22": "nothing"}}
    for client, days in expected.items():
        data = olga.get(f"/api/clients/{client}?month=2026-11").json()
        shown = {d["date"]: d["state"] for week in data["weeks"] for d in week}
        store = Store.open(db, readonly=True, client=client)
        try:
            for date, colour in days.items():
                assert shown[date] == colour, (client, date)
                report = status(store, date)
                assert (colour == "complete") == report["complete"], (client, date)
                if report["days"]:
                    assert (colour == "errors") == bool(report["totals"]["error"])
        finally:
            store.close()
        page = olga.get(f"/clients/{client}?month=2026-11").text
        for date, colour in days.items():
            assert f'data-date="{date}" data-state="{colour}"' in page


def test_days_of_a_store_with_till_closings_are_coloured_as_status_decides(ws, db, olga):
    """§11: a store that closes its registers must close each one, and each closing must reconcile."""
    from dashboards import EXAMPLES

    day = json.loads((EXAMPLES / "bakery-day.json").read_text())
    k1 = next(r for r in day if r.get("type") == "closing" and r["register"] == "K1")
    book(ws, db, "devries", day)
    book(ws, db, "devries", [receipt("AMS01-K1-1009", number="1009", date="2026-11-21"),
                             receipt("AMS01-K1-1010", number="1010", date="2026-11-21")])
    # A closing that counted receipts for a day none arrived: the day shows, and does not reconcile.
    book(ws, db, "devries", [{**k1, "id": "AMS01-K1-2026-11-22", "date": "2026-11-22"}])
    data = olga.get("/api/clients/devries?month=2026-11").json()
    shown = {d["date"]: d for week in data["weeks"] for d in week}
    store = Store.open(db, readonly=True, client="devries")
    try:
        for date in ("2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"):
            report = status(store, date)
            assert (shown[date]["state"] == "complete") == report["complete"], date
    finally:
        store.close()
    ams01 = {s["store"]: s for s in shown["2026-11-21"]["stores"]}["AMS01"]
    assert ams01["reasons"] == ["1 register(s) not reconciled"]  # K1 had receipts and no closing
    assert shown["2026-11-22"]["state"] == "incomplete" and shown["2026-11-22"]["receipts"] == 0
    page = olga.get("/clients/devries/days/2026-11-20?store=AMS01").text
    assert "Registers: the till closings against the receipts" in page
    assert 'href="/clients/devries/closings/AMS01-K1-2026-11-20"' in page
    assert "not closed" in olga.get("/clients/devries/days/2026-11-21?store=AMS01").text


def test_the_client_page_has_a_turnover_chart_per_day_and_method(olga):
    data = olga.get("/api/clients/jansen?month=2026-11").json()
    t = data["turnover"]
    assert t["methods"] == ["cash", "pin"]
    day = t["dates"].index("2026-11-21")
    assert (t["series"]["cash"][day], t["series"]["pin"][day]) == ("3.25", "3.25")  # the giftcard is in error
    assert t["series"]["cash"][t["dates"].index("2026-11-22")] == "6.50"
    page = olga.get("/clients/jansen?month=2026-11").text
    assert '<svg class="chart"' in page
    assert '<title>2026-11-22 cash: 6.50</title>' in page and 'data-method="pin" data-date="2026-11-20"' in page
    assert olga.get("/clients/jansen?month=2026-10").status_code == 200  # another month, nothing in it


def test_the_days_json_twin_is_exactly_what_status_prints(olga, ledger):
    page = olga.get("/clients/jansen/days/2026-11-21")
    assert page.status_code == 200
    assert 'href="/api/clients/jansen/days/2026-11-21"' in page.text
    for date, shop in (("2026-11-21", None), ("2026-11-22", None), ("2026-11-21", "AMS01")):
        args = ["status", "--db", ledger, "--client", "jansen", "--date", date, "--format", "json"]
        if shop:
            args += ["--store", shop]
        printed = tp(*args)
        assert printed.exit_code == 0, printed.output
        url = f"/api/clients/jansen/days/{date}" + (f"?store={shop}" if shop else "")
        assert olga.get(url).json() == json.loads(printed.stdout)


def test_a_day_page_shows_statuses_errors_gaps_payments_and_entries(olga):
    page = olga.get("/clients/jansen/days/2026-11-21").text
    assert "J-K1-4" in page and "payment method &#39;giftcard&#39; is not declared in the rule file" in page
    assert "<td>giftcard</td><td class=\"num\">12.50</td><td class=\"num\">0.00</td><td class=\"num\">12.50</td>" \
        in page
    assert "Retry this day&#39;s errors (1)" in page
    gaps = olga.get("/clients/jansen/days/2026-11-22").text
    assert "<td>K1</td><td>7</td><td class=\"num\">1</td>" in gaps
    entries = olga.get("/api/clients/jansen/days/2026-11-22/entries").json()
    assert entries["total"] == 3 and {e["journal"] for e in entries["entries"]} == {"KAS", "MEM", "VRK"}
    kas = next(e for e in entries["entries"] if e["journal"] == "KAS")
    assert kas["debit"] == kas["credit"] == "6.50" and kas["receipts"] == ["J-K1-6", "J-K1-8"]


def test_a_days_receipts_are_paginated_and_searchable_by_id_and_number(ws, db, olga):
    book(ws, db, "jansen", [receipt(f"P-K2-{n:04d}", number=f"{n:04d}", register="K2", date="2026-11-25")
                            for n in range(1, 251)])
    base = "/api/clients/jansen/days/2026-11-25/receipts?store=AMS01&list=booked"
    first = olga.get(base).json()
    assert (first["total"], first["pages"], first["page"], len(first["receipts"])) == (250, 3, 1, 100)
    last = olga.get(base + "&page=3").json()
    assert [r["receipt"] for r in last["receipts"]][-1] == "P-K2-0250" and len(last["receipts"]) == 50
    assert olga.get(base + "&page=99").json()["page"] == 3 and olga.get(base + "&page=x").json()["page"] == 1
    by_id = olga.get(base + "&q=p-k2-012").json()
    assert [r["receipt"] for r in by_id["receipts"]] == [f"P-K2-{n:04d}" for n in range(120, 130)]
    by_number = olga.get(base + "&q=0077").json()
    assert [r["receipt"] for r in by_number["receipts"]] == ["P-K2-0077"]
    assert olga.get(base + "&q=%25").json()["total"] == 0  # a % is a character, not a wildcard
    # The page shows the first hundred and links to the next; htmx gets the list alone.
    page = olga.get("/clients/jansen/days/2026-11-25?store=AMS01&list=booked&page=2").text
    assert "page 2 of 3" in page and "P-K2-0101" in page and "P-K2-0100" not in page
    fragment = olga.get("/clients/jansen/days/2026-11-25/receipts?store=AMS01&list=booked&q=0077",
                        headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div class="receipt-list"') and "<html" not in fragment.text


def test_a_receipt_shows_what_the_ledger_has_its_history_and_explain(ws, db, olga):
    waiting = olga.get("/api/clients/jansen/receipts/J-K1-4").json()
    r = waiting["receipt"]
    assert (r["status"], r["first_run"], r["last_run"]) == ("error", 2, 2)
    assert r["payments"] == [{"method": "giftcard", "amount": "12.50", "journal": None}]
    assert r["content"]["payments"] == [{"method": "giftcard", "amount": "12.50"}]
    assert "payment method 'giftcard' is not declared" in waiting["explain"]["text"]
    booked = olga.get("/api/clients/jansen/receipts/J-K1-1").json()
    assert booked["receipt"]["content"] is None and booked["explain"]["text"] is None
    assert [h["run"]["id"] for h in booked["history"]] == [1]
    journals = sorted(p["journal"] for p in booked["history"][0]["postings"])
    assert journals == ["KAS", "MEM", "VRK"]
    assert sorted(e["journal"] for e in booked["entries"]) == ["KAS", "MEM", "VRK"]
    # A change later: reversed and booked anew, the history shows both runs, the entries link.
    book(ws, db, "jansen", [receipt("J-K1-1", number="1", amount="4.00")])
    changed = olga.get("/api/clients/jansen/receipts/J-K1-1").json()
    assert changed["receipt"]["status"] == "changed" and [h["run"]["id"] for h in changed["history"]] == [1, 4]
    kinds = {p["kind"] for p in changed["history"][1]["postings"]}
    assert kinds == {"reversal", "rebooking"}
    reversal = next(e for e in changed["entries"] if e["kind"] == "reversal")
    original = next(e for e in changed["entries"] if e["id"] in reversal["corrects"])
    assert reversal["id"] in original["corrected_by"]
    page = olga.get(f"/clients/jansen/entries/{reversal['id']}").text
    assert f'href="/clients/jansen/entries/{original["id"]}"' in page
    twin = olga.get(f"/api/clients/jansen/entries/{original['id']}").json()
    assert twin["entry"]["corrected_by"][0]["id"] == reversal["id"]
    html = olga.get("/clients/jansen/receipts/J-K1-1").text
    assert "reversal in KAS" in html and "rebooking in KAS" in html


def test_a_receipts_content_shows_its_numbers_exactly_as_the_ledger_keeps_them(ws, db, olga):
    book(ws, db, "jansen", [receipt("J-K1-50", number="50", date="2026-11-23", method="giftcard")])
    exact = "12.500000000000000001"  # a float would make it 12.5
    store = Store.open(db, client="jansen")
    try:
        store.begin()
        content = store.query("SELECT content FROM receipts WHERE id = 'J-K1-50'")[0][0]
        store.execute("UPDATE receipts SET content = ? WHERE client = ? AND id = 'J-K1-50'",
                      (content.replace('"amount":"3.25"', f'"amount":{exact}'), store.client_id))
        store.commit()
    finally:
        store.close()
    twin = olga.get("/api/clients/jansen/receipts/J-K1-50").json()["receipt"]
    assert f'"amount":{exact}' in twin["content_stored"] and twin["content"]["payments"][0]["amount"] == exact
    page = olga.get("/clients/jansen/receipts/J-K1-50").text
    assert f"&#34;amount&#34;: {exact}," in page and "&#34;quantity&#34;: &#34;1&#34;" in page


def test_a_till_closing_has_its_page_with_history_and_explain(ws, db, olga):
    """§11's closings are rows of kind 'closing' beside the receipts: their own page, under /closings/."""
    from dashboards import EXAMPLES

    day = json.loads((EXAMPLES / "bakery-day.json").read_text())
    k1 = next(r for r in day if r.get("type") == "closing" and r["register"] == "K1")
    book(ws, db, "jansen", [{**k1, "id": "AMS01-K1-2026-11-21", "date": "2026-11-21"}])
    closing = olga.get("/api/clients/jansen/closings/AMS01-K1-2026-11-21").json()
    assert closing["receipt"]["kind"] == "closing" and closing["receipt"]["register"] == "K1"
    assert [h["run"]["id"] for h in closing["history"]] == [4]
    assert closing["explain"]["text"].startswith("closing AMS01-K1-2026-11-21")
    page = olga.get("/clients/jansen/closings/AMS01-K1-2026-11-21").text
    assert "Till closing AMS01-K1-2026-11-21" in page and "Glazenwasser" in page
    assert olga.get("/api/clients/jansen/receipts/AMS01-K1-2026-11-21").status_code == 404
    day_page = olga.get("/clients/jansen/days/2026-11-21").text
    assert 'href="/clients/jansen/closings/AMS01-K1-2026-11-21">AMS01-K1-2026-11-21</a>' in day_page
    # Not a receipt: the day's receipts are the receipts'.
    assert olga.get("/api/clients/jansen/days/2026-11-21").json()["receipts"] == 3


def test_the_errors_of_every_client_are_grouped_by_reason(ws, db, olga, victor):
    book(ws, db, "devries", [receipt("D-K1-7", number="7", store="UTR", method="giftcard", amount="5.00"),
                             receipt("D-K1-8", number="8", store="UTR", method="voucher")])
    data = olga.get("/api/errors").json()
    assert data["errors"] == 3
    giftcard = data["reasons"][0]
    assert giftcard["reason"] == "payment method 'giftcard' is not declared in the rule file"
    assert giftcard["count"] == 2 and [(c["client"], c["count"]) for c in giftcard["clients"]] == \
        [("devries", 1), ("jansen", 1)]
    assert data["reasons"][1]["reason"] == "payment method 'voucher' is not declared in the rule file"
    # A viewer of jansen sees jansen's only, and no retry button.
    seen = victor.get("/api/errors").json()
    assert seen["errors"] == 1 and seen["reasons"][0]["clients"][0]["client"] == "jansen"
    page = victor.get("/errors").text
    assert "devries" not in page and "Retry" not in page
    assert "Retry these (1)" in olga.get("/errors").text


def test_the_runs_page_lists_every_run_newest_first(olga):
    data = olga.get("/api/clients/jansen/runs").json()
    assert [r["id"] for r in data["runs"]] == [3, 2, 1]
    assert data["runs"][0]["counts"]["booked"] == 2 and data["runs"][0]["command"] == "process --final"
    assert "<td class=\"num\">3</td>" in olga.get("/clients/jansen/runs").text


def test_every_page_is_served_with_its_twin_and_no_outside_resource(olga):
    pages = ["/", "/errors", "/clients/jansen", "/clients/jansen/runs", "/clients/jansen/days/2026-11-21",
             "/clients/jansen/days/2026-11-21/receipts?store=AMS01&list=error",
             "/clients/jansen/days/2026-11-21/entries", "/clients/jansen/receipts/J-K1-4",
             "/clients/jansen/entries/1"]
    for path in pages:
        page = olga.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
        for attribute in ("src=\"http", "href=\"http", "src=\"//", "href=\"//"):
            assert attribute not in page.text, (path, attribute)
        twin = olga.get("/api/clients" if path == "/" else "/api" + path)
        assert twin.status_code == 200 and twin.headers["content-type"] == "application/json", path
        twin.json()
    script = olga.get("/static/htmx.min.js")
    assert script.status_code == 200 and script.text.startswith("var htmx=function()")


def test_static_files_and_templates_ship_in_the_package():
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[1]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["tillpost.web"]
    web = root / "src" / "tillpost" / "web"
    files = [p.relative_to(web).as_posix() for p in web.rglob("*") if p.is_file() and p.suffix != ".py"
             and "__pycache__" not in p.parts]
    assert {"static/htmx.min.js", "static/htmx.LICENSE", "static/VENDORED.txt", "templates/base.html"} <= set(files)
    for f in files:
        assert any(fnmatch.fnmatch(f, g) for g in globs), f"{f} would be missing from the wheel"
    assert "htmx 2.0.11" in (web / "static" / "VENDORED.txt").read_text()


# -- access ---------------------------------------------------------------------------------------


def test_a_user_sees_only_the_clients_granted_and_others_are_the_same_404(victor):
    assert [c["client"] for c in victor.get("/api/clients").json()["clients"]] == ["jansen"]
    assert "devries" not in victor.get("/").text
    hidden = victor.get("/clients/devries")
    unknown = victor.get("/clients/no-such-client")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.text == unknown.text and "devries" not in hidden.text
    for path in ("/api/clients/devries", "/api/clients/devries/days/2026-11-20", "/api/clients/devries/runs",
                 "/api/clients/devries/receipts/D-K1-1", "/api/clients/devries/entries/1"):
        answer = victor.get(path)
        assert answer.status_code == 404 and answer.json() == {"error": "no such client"}, path
    assert victor.get("/api/clients/jansen").status_code == 200


def test_unknown_days_receipts_and_entries_are_404(olga):
    for path in ("/clients/jansen/days/2026-11-30", "/clients/jansen/days/2026-13-01", "/clients/jansen/days/yesterday",
                 "/clients/jansen/days/2026-11-21?store=NOWHERE", "/clients/jansen/receipts/NOPE",
                 "/clients/jansen/closings/J-K1-1", "/clients/jansen/entries/999", "/clients/jansen/entries/x",
                 "/clients/jansen/days/2026-11-21/receipts?store=AMS01&list=nonsense", "/no/such/page"):
        assert olga.get(path).status_code == 404, path
        if not path.startswith("/no/"):
            assert olga.get("/api" + path).status_code == 404, path


def test_a_viewer_cannot_act_and_nothing_changes(ws, ledger, victor):
    accept_giftcards(ws, "jansen")
    before = state(ledger)
    for action in ("retry", "trial", "final"):
        answer = victor.post(f"/clients/jansen/{action}", data={"csrf": victor.csrf}, follow_redirects=False)
        assert answer.status_code == 403 and "viewer" in answer.text
        assert victor.post(f"/api/clients/jansen/{action}", data={"csrf": victor.csrf}).status_code == 403
    assert "Retry" not in victor.get("/clients/jansen/days/2026-11-21").text
    assert state(ledger) == before


def test_a_post_without_or_with_a_wrong_csrf_token_changes_nothing(ws, ledger, olga):
    accept_giftcards(ws, "jansen")
    (ws / "inbox" / "jansen" / "day.json").write_text(json.dumps([receipt("J-K1-20", number="20")]))
    before = state(ledger)
    for data, headers in (({}, {}), ({"csrf": "forged"}, {}), ({}, {"X-CSRF-Token": "forged"})):
        for action in ("retry", "final", "trial"):
            answer = olga.post(f"/clients/jansen/{action}", data=data, headers=headers, follow_redirects=False)
            assert answer.status_code == 403, (action, data, headers)
    assert state(ledger) == before and (ws / "inbox" / "jansen" / "day.json").exists()
    # The token in a header is as good as the form field (for API callers).
    done = olga.post("/api/clients/jansen/retry", headers={"X-CSRF-Token": olga.csrf})
    assert done.status_code == 200 and done.json()["receipts"]["late"] == ["J-K1-4"]  # its day was booked


def test_an_operator_of_other_clients_cannot_act_on_one_not_granted(app, ws, ledger):
    otto = client_for(app)
    token = signin(otto, "otto")
    accept_giftcards(ws, "jansen")
    before = state(ledger)
    answer = otto.post("/clients/jansen/retry", data={"csrf": token}, follow_redirects=False)
    assert answer.status_code == 404 and "jansen" not in answer.text
    assert state(ledger) == before


def test_anonymous_posts_are_401(app, ledger):
    before = state(ledger)
    assert client_for(app).post("/clients/jansen/retry", data={"csrf": "x"}).status_code == 401
    assert state(ledger) == before


# -- actions end where the command line ends ------------------------------------------------------


def _twin_ledger(tmp_path, new_db) -> tuple[Path, str]:
    ws = make_workspace(tmp_path, name="reference")
    ref = new_db("reference")
    history(ws, ref)
    return ws, ref


def test_retrying_a_clients_errors_ends_where_process_retry_errors_ends(ws, ledger, olga, tmp_path, new_db):
    ref_ws, ref = _twin_ledger(tmp_path, new_db)
    book(ws, ledger, "jansen", [receipt("J-K1-30", number="30", date="2026-11-23", method="giftcard")])
    book(ref_ws, ref, "jansen", [receipt("J-K1-30", number="30", date="2026-11-23", method="giftcard")])
    nothing = olga.post("/clients/jansen/retry", data={"csrf": olga.csrf, "date": "2026-11-20"},
                        follow_redirects=False)
    assert nothing.status_code == 303 and "nothing to retry" in olga.get("/clients/jansen").text
    for w in (ws, ref_ws):
        accept_giftcards(w, "jansen")
    done = olga.post("/clients/jansen/retry", data={"csrf": olga.csrf, "next": "/clients/jansen/days/2026-11-21"},
                     follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/clients/jansen/days/2026-11-21"
    assert "retried 2 receipt(s) in run 5: 2 booked, 0 still in error" in olga.get(done.headers["location"]).text
    cli = tp("process", rules_of(ref_ws, "jansen"), "--db", ref, "--client", "jansen", "--final", "--retry-errors")
    assert cli.exit_code == 0, cli.output
    assert state(ledger) == state(ref)
    ran_by = Store.open(ledger, readonly=True, client="jansen")
    try:
        assert ran_by.query("SELECT ran_by FROM runs WHERE id = 5")[0][0].startswith("olga (dashboard)@")
    finally:
        ran_by.close()


def test_retrying_a_day_or_a_reason_ends_where_process_retry_errors_receipt_ends(ws, ledger, olga, tmp_path, new_db):
    ref_ws, ref = _twin_ledger(tmp_path, new_db)
    more = [receipt("J-K1-30", number="30", date="2026-11-23", method="giftcard"),
            receipt("J-K1-31", number="31", date="2026-11-23", method="voucher")]
    book(ws, ledger, "jansen", more)
    book(ref_ws, ref, "jansen", more)
    for w in (ws, ref_ws):
        accept_giftcards(w, "jansen")
    # The day: only 2026-11-21's error (J-K1-4), not the giftcard of 2026-11-23.
    assert olga.post("/clients/jansen/retry", data={"csrf": olga.csrf, "date": "2026-11-21", "store": "AMS01"},
                     follow_redirects=False).status_code == 303
    assert tp("process", rules_of(ref_ws, "jansen"), "--db", ref, "--client", "jansen", "--final", "--retry-errors",
              "--receipt", "J-K1-4").exit_code == 0
    assert state(ledger) == state(ref)
    # A reason, as the errors page groups them: the voucher stays in error (still undeclared).
    reasons = olga.get("/api/errors").json()["reasons"]
    giftcard = next(g["reason"] for g in reasons if "giftcard" in g["reason"])
    answer = olga.post("/api/clients/jansen/retry", data={"csrf": olga.csrf, "reason": giftcard})
    assert answer.status_code == 200 and answer.json()["receipts"]["booked"] == ["J-K1-30"]
    assert tp("process", rules_of(ref_ws, "jansen"), "--db", ref, "--client", "jansen", "--final", "--retry-errors",
              "--receipt", "J-K1-30").exit_code == 0
    assert state(ledger) == state(ref)
    assert olga.get("/api/clients/jansen/receipts/J-K1-31").json()["receipt"]["status"] == "error"


def test_a_final_run_now_books_the_inbox_as_the_worker_does(ws, ledger, olga, tmp_path, new_db):
    ref_ws, ref = _twin_ledger(tmp_path, new_db)
    day = [receipt("J-K1-40", number="40", date="2026-11-24"), receipt("J-K1-41", number="41", date="2026-11-24",
                                                                      method="giftcard")]
    for w in (ws, ref_ws):
        (w / "inbox" / "jansen" / "monday.json").write_text(json.dumps(day))
    done = olga.post("/clients/jansen/final", data={"csrf": olga.csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert "final run: 1 files (1 done, 0 failed): 1 booked" in olga.get("/clients/jansen").text
    assert (ws / "inbox" / "jansen" / "done" / "monday.json").exists()
    shutil.rmtree(ref_ws / "inbox" / "devries")  # the worker books every client; devries has nothing anyway
    worker = tp("worker", ref_ws, "--db", ref, "--until-idle")
    assert worker.exit_code == 0, worker.output
    assert json.loads(json.dumps(state(ledger)).replace(str(ws), "WS")) == \
        json.loads(json.dumps(state(ref)).replace(str(ref_ws), "WS"))
    # Nothing waiting: said, not an error page.
    again = olga.post("/api/clients/jansen/final", data={"csrf": olga.csrf})
    assert again.status_code == 409 and "nothing to book" in again.json()["error"]


def test_a_trial_run_now_shows_what_the_final_run_books_and_writes_nothing(ws, ledger, olga):
    day = [receipt("J-K1-40", number="40", date="2026-11-24"),
           receipt("J-K1-41", number="41", date="2026-11-24", method="giftcard"),
           receipt("J-K1-6", number="6", date="2026-11-22", amount="9.99")]
    (ws / "inbox" / "jansen" / "monday.json").write_text(json.dumps(day))
    (ws / "inbox" / "jansen" / "broken.json").write_text("{not json")
    before = state(ledger)
    page = olga.post("/clients/jansen/trial", data={"csrf": olga.csrf})
    assert page.status_code == 200 and "Nothing was written." in page.text
    assert "broken.json" in page.text and "a final run moves this file to failed/" in page.text
    assert "payment method &#39;giftcard&#39; is not declared" in page.text
    trial = olga.post("/api/clients/jansen/trial", data={"csrf": olga.csrf}).json()
    assert state(ledger) == before and (ws / "inbox" / "jansen" / "monday.json").exists()
    planned = next(f for f in trial["files"] if f["file"] == "monday.json")["result"]
    assert planned["counts"]["changed"] == 1 and planned["counts"]["error"] == 1
    (ws / "inbox" / "jansen" / "broken.json").unlink()
    assert olga.post("/clients/jansen/final", data={"csrf": olga.csrf}, follow_redirects=False).status_code == 303
    store = Store.open(ledger, readonly=True, client="jansen")
    try:
        booked = store.entries(e["id"] for e in planned["entries"])
    finally:
        store.close()
    assert [without(e, "run") for e in booked] == [dict(e) for e in planned["entries"]]


def test_an_action_on_a_client_whose_rules_do_not_compile_says_so(ws, ledger, olga):
    rules_of(ws, "jansen").write_text("method cash turnover\nwhen payment nonsense\n")
    answer = olga.post("/api/clients/jansen/retry", data={"csrf": olga.csrf})
    assert answer.status_code == 409 and "its rules do not compile" in answer.json()["error"]
    html = olga.post("/clients/jansen/retry", data={"csrf": olga.csrf})
    assert html.status_code == 200 and "its rules do not compile" in html.text


# -- bad input ------------------------------------------------------------------------------------


EVIL = '<script>alert("x")</script> "quoted" {{ 7*7 }}'


def test_receipt_text_shows_as_text_on_every_page(ws, ledger, olga):
    evil = receipt("E-<b>1</b>-{{7*7}}", number="11", date="2026-11-26", method=EVIL, description=EVIL,
                   store='<img src=x onerror="alert(1)">')
    book(ws, ledger, "jansen", [evil])
    shop = evil["store"]
    from urllib.parse import quote

    pages = [f"/clients/jansen/days/2026-11-26", f"/clients/jansen/days/2026-11-26?store={quote(shop)}",
             f"/clients/jansen/receipts/{quote(evil['id'])}", "/errors", "/clients/jansen?month=2026-11",
             f"/clients/jansen/days/2026-11-26/receipts?store={quote(shop)}&list=error"]
    for path in pages:
        page = olga.get(path)
        assert page.status_code == 200, path
        text = page.text
        assert "<script>alert" not in text and "<img src=x" not in text and "<b>1</b>" not in text, path
        if not path.startswith("/clients/jansen?"):  # the calendar shows counts, not receipts
            assert "{{ 7*7 }}" in text or "{{7*7}}" in text, path
    receipt_page = olga.get(f"/clients/jansen/receipts/{quote(evil['id'])}").text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &#34;quoted&#34; {{ 7*7 }}" in receipt_page
    assert "E-&lt;b&gt;1&lt;/b&gt;-{{7*7}}" in receipt_page
    # The JSON twins carry the text as it is.
    assert olga.get(f"/api/clients/jansen/receipts/{quote(evil['id'])}").json()["receipt"]["content"]["lines"][0][
        "description"] == EVIL


def test_a_page_reads_one_state_while_a_worker_books(ws, ledger, olga):
    """Each run books five new receipts of one day: every page must see a whole number of runs, its
    last run and its receipts from the same moment."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def worker():
        try:
            n = 100
            while not stop.is_set():
                book(ws, ledger, "devries", [receipt(f"W-K1-{n + i}", number=str(n + i), store="UTR",
                                                     date="2026-11-27", amount="1.00") for i in range(5)])
                n += 5
        except BaseException as e:  # noqa: BLE001
            failures.append(e)

    thread = threading.Thread(target=worker)
    thread.start()
    seen = set()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            client = olga.get("/api/clients/devries?month=2026-11").json()
            runs = client["last_run"]["id"] - 1  # run 1 was the history's
            assert client["receipts"] == 2 + 5 * runs, client["receipts"]
            overview = {c["client"]: c for c in olga.get("/api/clients").json()["clients"]}["devries"]
            assert overview["receipts"] == 2 + 5 * (overview["last_run"]["id"] - 1)
            if runs:
                day = olga.get("/api/clients/devries/days/2026-11-27").json()["days"][0]
                cash = next(p for p in day["payments"] if p["method"] == "cash")
                kas = next(j for j in day["journals"] if j["journal"] == "KAS")
                assert cash["receipts"] == cash["booked"] == kas["debit"] == f"{day['receipts']}.00"
            seen.add(runs)
    finally:
        stop.set()
        thread.join()
    assert not failures, failures
    assert len(seen) > 1, "the worker booked nothing while the pages were read"


def test_a_run_that_commits_while_a_page_is_read_is_not_half_seen(app, ws, ledger, olga, monkeypatch):
    """A worker's run commits right after the page read the client's last run: the page shows the
    ledger before the run, wholly (SQLite: the run waits for the read; PostgreSQL: the read's snapshot)."""
    from tillpost.web import views

    real, writers = views.last_runs, []

    def then_a_run_commits(store, now):
        found = real(store, now)
        if not writers:
            writer = threading.Thread(target=book, args=(ws, ledger, "devries", [
                receipt(f"W-K1-{n}", number=str(n), store="UTR", date="2026-11-27") for n in range(10, 15)]))
            writer.start()
            writer.join(timeout=2)
            writers.append(writer)
        return found

    monkeypatch.setattr(views, "last_runs", then_a_run_commits)
    for path in ("/api/clients/devries?month=2026-11", "/api/clients"):
        writers.clear()
        app.state.dashboard.cache = DayCache()  # the day states are read, not remembered
        data = olga.get(path).json()
        row = data if "receipts" in data else next(c for c in data["clients"] if c["client"] == "devries")
        writers[0].join()
        assert row["receipts"] == 2 + 5 * (row["last_run"]["id"] - 1), path


# -- users and serve on the command line ----------------------------------------------------------


def test_users_add_list_and_remove_on_the_command_line(db):
    added = tp("users", "add", "anna", "--role", "operator", "--db", db, input="a good password\n")
    assert added.exit_code == 0, added.output
    assert "added anna: operator of every client" in added.stderr
    viewer = tp("users", "add", "vera", "--role", "viewer", "--clients", "jansen,devries", "--db", db,
                input="another good one\n")
    assert viewer.exit_code == 0 and "note: the ledger has no books of jansen, devries yet" in viewer.stderr
    listed = json.loads(tp("users", "list", "--db", db, "--format", "json").stdout)
    assert [(u["name"], u["role"], u["clients"]) for u in listed] == \
        [("anna", "operator", None), ("vera", "viewer", ["jansen", "devries"])]
    store = Store.open(db, readonly=True)
    try:
        hashes = dict(store.query("SELECT name, hash FROM users"))
    finally:
        store.close()
    assert hashes["anna"].startswith("$argon2id$") and "a good password" not in hashes["anna"]
    again = tp("users", "add", "anna", "--role", "viewer", "--db", db, input="a good password\n")
    assert again.exit_code == 2 and "user 'anna' exists already" in again.stderr
    for args, stdin, message in (
            (["--role", "viewer"], "short\n", "at least 8 characters"),
            (["--role", "admin"], "a good password\n", "Invalid value for '--role'"),
            (["--role", "viewer", "--clients", ","], "a good password\n", "--clients is empty"),
            (["--role", "viewer", "--clients", "a/b"], "a good password\n", "'a/b' is not a client name")):
        bad = tp("users", "add", "bert", *args, "--db", db, input=stdin)
        assert bad.exit_code == 2 and message in bad.output, bad.output
    assert tp("users", "remove", "vera", "--db", db).exit_code == 0
    missing = tp("users", "remove", "vera", "--db", db)
    assert missing.exit_code == 2 and "no user 'vera'; the users are anna" in missing.stderr
    assert "anna\toperator\tevery client" in tp("users", "list", "--db", db).stdout


def test_serve_refuses_a_ledger_without_users_and_binds_this_machine_only(tmp_path, ws, db):
    from tillpost.cli import web

    nothing = tp("serve", ws, "--db", str(tmp_path / "none.sqlite"))
    assert nothing.exit_code == 2 and "no ledger here yet: add the first user" in nothing.stderr
    assert not (tmp_path / "none.sqlite").exists()
    book(ws, db, "jansen", [receipt("J-K1-1", number="1")])
    nobody = tp("serve", ws, "--db", db)
    assert nobody.exit_code == 2 and "nobody can sign in yet" in nobody.stderr
    params = {p.name: p.default for p in web.serve_cmd.params}
    assert (params["host"], params["port"]) == ("127.0.0.1", 8150)


def test_serve_answers_on_127_0_0_1(tmp_path, ws, ledger):
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", "from tillpost.cli import main; main()", "serve", str(ws),
                             "--db", ledger, "--port", str(port)], stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert f"tillpost dashboard on http://127.0.0.1:{port}/" in line, line
        for _ in range(100):
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/signin", timeout=5)
                break
            except OSError:
                time.sleep(0.1)
        assert page.status == 200 and b'type="password"' in page.read()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
