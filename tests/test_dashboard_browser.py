"""The dashboard in a real browser: Debian's chromium driven by Playwright (never a downloaded browser).

An operator signs in, finds the day that is not complete, opens its receipt in error, fixes the rule
file, retries, and sees the day turn complete. Each page is photographed into the test's tmp folder
(set TILLPOST_SCREENSHOTS=DIR to keep a copy there: docs/dashboard-*.png are made that way).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from dashboards import PASSWORD, accept_giftcards, add_users, book, history, make_workspace, receipt

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
REQUIRE_TOOLS = bool(os.environ.get("TILLPOST_REQUIRE_TOOLS"))
INSTALL_HINT = ("the dashboard's browser test needs Debian's chromium and Playwright for Python: "
                "sudo apt-get install chromium; pip install playwright (no `playwright install`: the test "
                f"drives {CHROMIUM})")


def _browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not Path(CHROMIUM).exists():
        if REQUIRE_TOOLS:
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    return sync_playwright


class Served:
    """The dashboard served by uvicorn on a free port of 127.0.0.1, in a thread of the test."""

    def __init__(self, app):
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)


def a_month(ws: Path, db: str) -> None:
    """Three weeks of ordinary days for jansen (register K2), so the calendar and the chart have something."""
    n = 0
    for day in range(2, 20):
        date = f"2026-11-{day:02d}"
        if day % 7 == 1:  # closed on Sundays
            continue
        receipts = []
        for i in range(4 + day % 5):
            n += 1
            amount = str(Decimal("2.35") + Decimal(n * 37 % 1100) / 100)
            receipts.append(receipt(f"J-K2-{n}", number=str(n), register="K2", date=date, amount=amount,
                                    method="pin" if i % 3 else "cash"))
        book(ws, db, "jansen", receipts)


def test_an_operator_finds_an_incomplete_day_fixes_the_rules_retries_and_sees_it_complete(db, tmp_path):
    sync_playwright = _browser_or_skip()
    from playwright.sync_api import expect

    from tillpost.web.app import create_app

    ws = make_workspace(tmp_path, clients=("jansen", "devries", "fietsen-de-vries"))
    a_month(ws, db)
    history(ws, db)
    book(ws, db, "fietsen-de-vries", [receipt("F-1", number="1", store="ZWOLLE"),
                                      receipt("F-2", number="2", store="ZWOLLE", status="open")])
    add_users(db, {"olga": ("operator", None)})
    shots = tmp_path / "screenshots"
    shots.mkdir()
    keep = os.environ.get("TILLPOST_SCREENSHOTS")

    def shoot(page, name):
        page.screenshot(path=str(shots / f"dashboard-{name}.png"), full_page=True)
        if keep:
            shutil.copy(shots / f"dashboard-{name}.png", Path(keep) / f"dashboard-{name}.png")

    with Served(create_app(ws, db)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            # Generous waits: on a loaded 2-core machine an htmx swap has taken over 5 s (the default).
            page.set_default_timeout(30_000)
            expect.set_options(timeout=30_000)
            problems = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("requestfailed", lambda r: problems.append(f"{r.url}: {r.failure}"))
            outside = []
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)

            # Signing in: the redirect from /, then the overview.
            page.goto(base + "/")
            assert page.url == base + "/signin"
            shoot(page, "signin")
            page.fill("#name", "olga")
            page.fill("#password", "not it")
            page.click("button[type=submit]")
            assert "Wrong name or password." in page.inner_text(".message")
            assert problems == ["Failed to load resource: the server responded with a status of 401 (Unauthorized)"]
            problems.clear()
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            row = page.locator('tr[data-client="jansen"]')
            assert row.locator("td").nth(2).inner_text().startswith("2")  # days incomplete
            shoot(page, "overview")

            # The client's calendar: the day in error is red.
            page.click('a[href="/clients/jansen"]')
            errors_day = page.locator('.calendar a[data-state="errors"]')
            assert errors_day.count() == 1 and errors_day.get_attribute("data-date") == "2026-11-21"
            assert page.locator("svg.chart rect").count() > 20
            shoot(page, "client")
            errors_day.click()
            page.wait_for_url(base + "/clients/jansen/days/2026-11-21")
            assert page.inner_text("h1").endswith("incomplete")
            shoot(page, "day-incomplete")

            # htmx: the booked list and a search swap the list in place.
            store = page.locator('section.store[data-store="AMS01"]')
            store.locator(".tabs a", has_text="booked").click()
            expect(store.locator("table.receipts")).to_contain_text("J-K1-5")
            assert page.url == base + "/clients/jansen/days/2026-11-21"  # not a page load
            # htmx binds the swapped-in search field's trigger as it settles: type only after that.
            page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
            expect(store.locator(".tabs a.on")).to_contain_text("booked")
            store.locator('input[name="q"]').fill("k1-3")
            expect(store.locator("table.receipts")).not_to_contain_text("J-K1-5")
            assert "J-K1-3" in store.locator("table.receipts").inner_text()

            # Its error: the receipt, why, and how the rules book it.
            page.click('table.errors a:has-text("J-K1-4")')
            page.wait_for_url(base + "/clients/jansen/receipts/J-K1-4")
            assert "payment method 'giftcard' is not declared in the rule file" in page.inner_text(".flash.error")
            assert "giftcard" in page.inner_text("pre.explain")
            shoot(page, "receipt")
            page.goto(base + "/errors")
            shoot(page, "errors")

            # The consultant fixes the rule file; the operator retries the day.
            accept_giftcards(ws, "jansen")
            page.goto(base + "/clients/jansen/days/2026-11-21")
            page.click("button:has-text(\"Retry this day's errors (1)\")")
            page.wait_for_url(base + "/clients/jansen/days/2026-11-21")
            assert "retried 1 receipt(s) in run" in page.inner_text(".flash.ok")
            assert page.inner_text("h1").endswith("complete") and "incomplete" not in page.inner_text("h1")
            shoot(page, "day-complete")
            page.goto(base + "/clients/jansen")
            assert page.locator('.calendar a[data-date="2026-11-21"]').get_attribute("data-state") == "complete"

            # A file arrives: a trial shows what a final run would book, then the final run books it.
            (ws / "inbox" / "jansen" / "monday.json").write_text(json.dumps(
                [receipt("J-K1-9", number="9", date="2026-11-23"), receipt("J-K1-10", number="10", date="2026-11-23",
                                                                           method="pin", amount="7.80")]))
            page.click("button:has-text('Trial run of the inbox now')")
            assert "monday.json" in page.inner_text("h2") and "Nothing was written." in page.inner_text("main")
            shoot(page, "trial")
            page.click("button:has-text('Book it: final run now')")
            page.wait_for_url(base + "/clients/jansen")
            assert "final run: 1 files (1 done, 0 failed): 2 booked" in page.inner_text(".flash.ok")
            page.click('a:has-text("all runs")')
            shoot(page, "runs")
            page.goto(base + "/clients/jansen/days/2026-11-22")
            shoot(page, "day-gap")
            assert not problems, problems
            assert not outside, outside
        finally:
            browser.close()
    assert sorted(f.name for f in shots.iterdir()) == sorted(
        f"dashboard-{n}.png" for n in ("signin", "overview", "client", "day-incomplete", "receipt", "errors",
                                       "day-complete", "trial", "runs", "day-gap"))
