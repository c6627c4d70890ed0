"""`tillpost deliver` (SPEC §14) against Moneybird and Exact Online as they document their APIs,
served on 127.0.0.1 by tests/packages.py, on SQLite and PostgreSQL (the `db` fixture). Every fault a
package shows — 429 with Retry-After, 500, an answer lost after the document was stored, a refusal
with a message, an expired token — ends with every document in the package exactly once or
visibly refused; no credential is ever in a log line, an error or the ledger."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import ledgers
import pytest
import stamina

from packages import ExactOnline, Moneybird
from test_delivery_export import EXACT, MONEYBIRD, NOW, day, do_export, late_and_changed
from test_ledger import dump, run, stored_entries, tp
from test_ledger_clients import run_for
from tillpost.api import load_rules
from tillpost.cli import delivery as _delivery_cli  # noqa: F401  (registers the commands)
from tillpost.delivery.config import parse_deliver
from tillpost.delivery.credentials import Credentials, CredentialError, resolve
from tillpost.delivery.deliver import RetryPolicy, deliver
from tillpost.ledger import Store

FAST = RetryPolicy(wait_initial=0.01, wait_max=0.05, wait_jitter=0.0)


@pytest.fixture
def moneybird():
    server = Moneybird()
    yield server
    server.close()


@pytest.fixture
def exact():
    server = ExactOnline()
    yield server
    server.close()


def config_for(server, timeout: float = 5.0):
    problems: list[str] = []
    if isinstance(server, Moneybird):
        value = {"package": "moneybird", "administration": server.administration, "base_url": server.url + "/api/v2",
                 "credentials": {"token": "env:MONEYBIRD_TOKEN"}, "timeout": timeout}
        target = "moneybird"
    else:
        value = {"package": "exact-online", "base_url": server.url, "timeout": timeout,
                 "credentials": {"client_id": "env:EXACT_CLIENT_ID", "client_secret": "env:EXACT_CLIENT_SECRET",
                                 "refresh_token": "secrets:bakkerij.refresh_token",
                                 "access_token": "secrets:bakkerij.access_token"}}
        target = "exact-online-rest"
    config = parse_deliver(value, target, problems.append)
    assert not problems, problems
    return config


def secrets_file(tmp_path: Path, server: ExactOnline, access_token: str | None = None) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text("# Exact Online of Bakkerij Jansen: kept by tillpost, do not share\n"
                    "[bakkerij]\n"
                    f'refresh_token = "{server.refresh_token}"   # rotated by Exact at every use\n'
                    f'access_token = "{access_token or server.access_token}"\n')
    path.chmod(0o600)
    return path


def credentials_for(server, tmp_path: Path) -> Credentials:
    if isinstance(server, Moneybird):
        return resolve(config_for(server).credentials, None, {"MONEYBIRD_TOKEN": server.token})
    return resolve(config_for(server).credentials, secrets_file(tmp_path, server),
                   {"EXACT_CLIENT_ID": server.client_id, "EXACT_CLIENT_SECRET": server.client_secret})


def booked_and_exported(db, server, tmp_path, receipts=None):
    rules_path = MONEYBIRD if isinstance(server, Moneybird) else EXACT
    run(load_rules(rules_path), db, receipts if receipts is not None else day())
    return do_export(db, rules_path, "moneybird" if isinstance(server, Moneybird) else "exact-online-rest",
                     tmp_path, now=NOW)


def deliver_now(db, server, credentials, policy=FAST, timeout=5.0, transport=None):
    lines: list[str] = []
    store = Store.open(db)
    try:
        report = deliver(store, config_for(server, timeout), credentials, log=lines.append, policy=policy,
                         transport=transport)
    finally:
        store.close()
    return report, lines


def deliveries(db) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in ledgers.query(
        db, "SELECT reference, state, package_id, number, message, attempts, sent FROM deliveries")}


def assert_exactly_once(db, server) -> None:
    """Every document is in the package once and accepted in the ledger with the package's id, or it
    is refused with the package's message and not in the package (or waits, not in the package)."""
    stored = server.references()
    assert len(stored) == len(set(stored)), f"a document is in {server.title} twice: {stored}"
    ids = {d["reference"]: str(d.get("id") or d.get("EntryID")) for d in server.stored}
    for ref, (state, package_id, number, message, attempts, sent) in deliveries(db).items():
        if state == "accepted":
            assert ids.get(ref) == package_id, ref
        else:
            assert ref not in ids, f"{ref} is in {server.title} but the ledger says {state}"
            if state == "rejected":
                assert message
    accepted = {r[0] for r in ledgers.query(db, "SELECT reference FROM delivered")}
    assert accepted == {ref for ref, row in deliveries(db).items() if row[0] == "accepted"}
    assert not server.invalid, server.invalid


def posts(server) -> int:
    return sum(1 for method, path in server.requests if method == "POST" and "oauth2" not in path)


# -- the plain case --------------------------------------------------------------------------


@pytest.mark.parametrize("package", ["moneybird", "exact"])
def test_every_exported_document_is_delivered_once_with_the_packages_id(db, tmp_path, package, request):
    server = request.getfixturevalue(package)
    first = booked_and_exported(db, server, tmp_path)
    creds = credentials_for(server, tmp_path)
    report, lines = deliver_now(db, server, creds)
    assert report.exit_code == 0 and len(report.accepted) == len(first.entries) == len(server.stored)
    assert_exactly_once(db, server)
    assert all(row[0] == "accepted" and row[2] for row in deliveries(db).values())  # the package's number kept
    # Nothing is posted again; late and changed receipts go in as their own documents.
    asked = len(server.requests)
    report, _ = deliver_now(db, server, creds)
    assert report.accepted == [] and len(server.requests) == asked
    run(load_rules(MONEYBIRD if package == "moneybird" else EXACT), db, late_and_changed())
    second = do_export(db, MONEYBIRD if package == "moneybird" else EXACT,
                       "moneybird" if package == "moneybird" else "exact-online-rest", tmp_path)
    report, _ = deliver_now(db, server, creds)
    assert sorted(a["reference"] for a in report.accepted) == sorted(
        ref for ref, in ledgers.query(db, "SELECT reference FROM export_documents WHERE export = 2"))
    assert len(server.stored) == len(first.entries) + len(second.entries)
    assert_exactly_once(db, server)
    # status names per day what is exported and delivered
    result = tp("status", "--db", db, "--format", "json")
    target = "moneybird" if package == "moneybird" else "exact-online-rest"
    ams = next(d for d in json.loads(result.stdout)["days"] if d["store"] == "AMS01")
    t = ams["delivery"]["targets"][target]
    assert sorted(t["exported"]) == sorted(ams["delivery"]["entries"]) and t["not_exported"] == []
    assert sorted(d["entry"] for d in t["delivered"]) == sorted(t["exported"]) and t["exports"] == [1, 2]
    assert f"exported: {target} {len(t['exported'])} of {len(t['exported'])} entries (exports 1, 2); delivered " \
           f"{len(t['exported'])}, rejected 0, waiting 0" in tp("status", "--db", db).stdout


# -- faults ----------------------------------------------------------------------------------


def test_a_429_is_waited_out_as_the_package_asks(db, tmp_path, moneybird):
    booked_and_exported(db, moneybird, tmp_path)
    moneybird.fault("POST", status=429, retry_after="1", message="Too many requests")
    waits = []
    hooks = stamina.instrumentation.get_on_retry_hooks()
    stamina.instrumentation.set_on_retry_hooks([lambda details: waits.append(details.wait_for)])
    try:
        report, lines = deliver_now(db, moneybird, credentials_for(moneybird, tmp_path), policy=RetryPolicy())
    finally:
        stamina.instrumentation.set_on_retry_hooks(hooks)
    assert waits == [1.0]  # Retry-After, not the policy's own backoff
    assert any(": Moneybird is busy (429 Too Many Requests): waiting 1 s as Moneybird asks" in l for l in lines)
    assert report.exit_code == 0
    assert_exactly_once(db, moneybird)


def test_a_retry_after_longer_than_worth_waiting_ends_the_run_and_the_next_delivers(db, tmp_path, moneybird):
    booked_and_exported(db, moneybird, tmp_path)
    moneybird.fault("POST", status=429, retry_after="Wed, 21 Oct 2099 07:28:00 GMT")
    creds = credentials_for(moneybird, tmp_path)
    report, _ = deliver_now(db, moneybird, creds)
    assert report.exit_code == 1 and report.accepted == [] and "it asks to wait" in report.stopped
    assert moneybird.stored == [] and len(report.waiting) == len(deliveries(db))
    assert all(row[0] == "pending" for row in deliveries(db).values())
    report, _ = deliver_now(db, moneybird, creds)
    assert report.exit_code == 0
    assert_exactly_once(db, moneybird)


@pytest.mark.parametrize("package", ["moneybird", "exact"])
def test_a_500_is_retried_and_the_package_asked_first(db, tmp_path, package, request):
    server = request.getfixturevalue(package)
    exported = booked_and_exported(db, server, tmp_path)
    server.fault("POST", status=500, message="Internal Server Error")
    server.fault("POST", status=503, message="Service Unavailable")
    report, lines = deliver_now(db, server, credentials_for(server, tmp_path))
    assert report.exit_code == 0 and len(server.stored) == len(exported.entries)
    assert sum("may hold it: asking before posting again" in l for l in lines) == 2
    assert posts(server) == len(exported.entries) + 2
    assert_exactly_once(db, server)


@pytest.mark.parametrize("package", ["moneybird", "exact"])
def test_an_answer_lost_after_the_package_stored_the_document_makes_no_second_one(db, tmp_path, package, request):
    server = request.getfixturevalue(package)
    exported = booked_and_exported(db, server, tmp_path)
    # Every kind of document once: an invoice / sales entry, and a journal / cash entry.
    kinds = {k for k, in ledgers.query(db, "SELECT kind FROM export_documents")}
    for kind in kinds:
        server.fault("POST", match=lambda path, body, kind=kind: _kind_of(path, body) == kind, store_then_sleep=1.5)
    report, lines = deliver_now(db, server, credentials_for(server, tmp_path), timeout=0.5)
    assert report.exit_code == 0, report.summary()
    found = [a for a in report.accepted if a["found"]]
    assert len(found) == len(kinds) >= 2
    assert len(server.stored) == len(exported.entries)
    assert sum("found in the package after a lost answer" in l for l in lines) == len(kinds)
    assert_exactly_once(db, server)


def _kind_of(path: str, body) -> str:
    if isinstance(body, dict) and len(body) == 1:
        return next(iter(body))
    return {"SalesEntries": "SalesEntries", "CashEntries": "CashEntries",
            "GeneralJournalEntries": "GeneralJournalEntries"}.get(path.rsplit("/", 1)[-1], "")


class KilledAfterPost:
    """A transport whose process dies once the package has stored the document: the answer never
    reaches the ledger."""

    def __init__(self, inner):
        self.inner, self.package = inner, inner.package

    def post(self, document):
        self.inner.post(document)
        raise KeyboardInterrupt("killed")

    def find(self, document):
        return self.inner.find(document)

    def close(self):
        self.inner.close()


@pytest.mark.parametrize("package", ["moneybird", "exact"])
def test_a_deliverer_killed_after_the_post_leaves_a_trace_and_the_next_asks_first(db, tmp_path, package, request):
    from tillpost.delivery.deliver import make_transport

    server = request.getfixturevalue(package)
    exported = booked_and_exported(db, server, tmp_path)
    creds = credentials_for(server, tmp_path)
    killed = KilledAfterPost(make_transport(config_for(server), creds))
    with pytest.raises(KeyboardInterrupt):
        deliver_now(db, server, creds, transport=killed)
    killed.close()
    (first,) = [ref for ref, row in deliveries(db).items() if row[5]]  # sent, no answer recorded
    assert server.references() == [first] and deliveries(db)[first][0] == "pending"
    # The lease of the killed deliverer is gone with its process's cleanup or expires; here it was released.
    report, lines = deliver_now(db, server, creds)
    assert report.exit_code == 0 and report.accepted[0] == {**report.accepted[0], "reference": first, "found": True}
    assert len(server.stored) == len(exported.entries)
    assert_exactly_once(db, server)


@pytest.mark.parametrize("package", ["moneybird", "exact"])
def test_a_refusal_is_recorded_with_the_packages_message_and_waits_for_a_retry(db, tmp_path, package, request,
                                                                               monkeypatch):
    server = request.getfixturevalue(package)
    exported = booked_and_exported(db, server, tmp_path)
    refused_ref = sorted(deliveries(db))[0]
    server.fault("POST", match=lambda path, body: refused_ref in json.dumps(body, default=str), status=422,
                 message="Contact is not found in this administration")
    creds = credentials_for(server, tmp_path)
    report, lines = deliver_now(db, server, creds)
    assert report.exit_code == 1 and [r["reference"] for r in report.rejected] == [refused_ref]
    state, _, _, message, attempts, sent = deliveries(db)[refused_ref]
    assert (state, message, attempts, sent) == ("rejected", "Contact is not found in this administration", 1, 0)
    assert len(server.stored) == len(exported.entries) - 1
    assert_exactly_once(db, server)
    table = tp("status", "--db", db).stdout
    assert f"error: refused by the package: entry" in table and "Contact is not found in this administration" in table
    # The retry (the operator created the contact): delivered, once.
    report, _ = deliver_now(db, server, creds)
    assert report.exit_code == 0 and [a["reference"] for a in report.accepted] == [refused_ref]
    assert deliveries(db)[refused_ref][0] == "accepted" and len(server.stored) == len(exported.entries)
    assert_exactly_once(db, server)


def test_an_expired_exact_token_is_refreshed_once_and_the_new_tokens_are_kept_in_the_secrets_file(
        db, tmp_path, exact, caplog):
    exported = booked_and_exported(db, exact, tmp_path)
    creds = credentials_for(exact, tmp_path)
    old_refresh = exact.refresh_token
    exact.expire()  # the access token in the secrets file is Exact's no more
    caplog.set_level(logging.DEBUG)
    report, lines = deliver_now(db, exact, creds)
    assert report.exit_code == 0 and exact.refreshes == 1
    assert_exactly_once(db, exact)
    text = (tmp_path / "secrets.toml").read_text()
    assert f'refresh_token = "{exact.refresh_token}"   # rotated by Exact at every use' in text
    assert f'access_token = "{exact.access_token}"' in text and old_refresh not in text
    assert text.startswith("# Exact Online of Bakkerij Jansen") and (tmp_path / "secrets.toml").stat().st_mode & 0o77 == 0
    # The next run reads the kept tokens and needs no refresh; a late day is delivered with them.
    run(load_rules(EXACT), db, late_and_changed())
    do_export(db, EXACT, "exact-online-rest", tmp_path)
    report, _ = deliver_now(db, exact, credentials_for_kept(exact, tmp_path))
    assert report.exit_code == 0 and exact.refreshes == 1 and len(exact.stored) > len(exported.entries)
    assert_no_secret_anywhere(db, tmp_path, exact, lines + [r.getMessage() for r in caplog.records])


def credentials_for_kept(server, tmp_path):
    return resolve(config_for(server).credentials, tmp_path / "secrets.toml",
                   {"EXACT_CLIENT_ID": server.client_id, "EXACT_CLIENT_SECRET": server.client_secret})


def assert_no_secret_anywhere(db, tmp_path, server, texts) -> None:
    secrets = [*server.issued, server.client_secret] if isinstance(server, ExactOnline) else [server.token]
    everything = json.dumps(dump(db), default=str) + "\n".join(texts)
    everything += "".join(p.read_text() for p in tmp_path.glob("*.json"))
    for secret in secrets:
        assert secret not in everything


def test_a_refused_refresh_token_is_reported_and_the_documents_wait(db, tmp_path, exact, monkeypatch):
    booked_and_exported(db, exact, tmp_path)
    creds = credentials_for(exact, tmp_path)
    exact.refresh_token = "eol-refresh-someone-else-used-it"  # rotated away by another program
    exact.expire()
    report, lines = deliver_now(db, exact, creds)
    assert report.exit_code == 1 and report.accepted == [] and exact.stored == []
    assert report.stopped.startswith("Exact Online refused the refresh token (400 Bad Request: Old refresh token "
                                     "used.): sign in to Exact Online again")
    assert all(row[0] == "pending" for row in deliveries(db).values())
    assert posts(exact) == 1 and exact.refreshes == 0  # the one its 401 answered; no retry without a token
    assert_no_secret_anywhere(db, tmp_path, exact, lines + [report.stopped])


def test_a_refused_moneybird_token_is_reported_never_retried_and_never_shown(db, tmp_path, moneybird):
    booked_and_exported(db, moneybird, tmp_path)
    creds = resolve(config_for(moneybird).credentials, None, {"MONEYBIRD_TOKEN": "mb-revoked-token-987654321"})
    report, lines = deliver_now(db, moneybird, creds)
    assert report.exit_code == 1 and report.stopped == ("Moneybird refused the credentials (401 Unauthorized): "
                                                        "Token is invalid or expired")
    assert len(moneybird.requests) == 1 and moneybird.stored == []
    everything = json.dumps(dump(db), default=str) + "\n".join(lines) + report.summary()
    assert "mb-revoked-token-987654321" not in everything and moneybird.seen_authorization == [
        "Bearer mb-revoked-token-987654321"]


def test_a_package_that_repeats_the_token_in_its_message_does_not_get_it_into_the_ledger(db, tmp_path, moneybird):
    booked_and_exported(db, moneybird, tmp_path)
    moneybird.fault("POST", status=422, message=f"bad request from Bearer {moneybird.token}")
    report, lines = deliver_now(db, moneybird, credentials_for(moneybird, tmp_path))
    assert report.rejected[0]["message"] == "bad request from Bearer ***"
    assert_no_secret_anywhere(db, tmp_path, moneybird, lines + [report.summary(), json.dumps(report.as_dict())])


# -- the CLI, the workspace, the lease --------------------------------------------------------


def workspace_with(tmp_path: Path, server, extra: str = "") -> Path:
    ws = tmp_path / "ws"
    (ws / "rules").mkdir(parents=True)
    (ws / "inbox" / "bakkerij").mkdir(parents=True)
    if isinstance(server, Moneybird):
        (ws / "rules" / "client.rules").write_text(MONEYBIRD.read_text())
        deliver_table = (f'deliver = {{ package = "moneybird", administration = "{server.administration}", '
                         f'base_url = "{server.url}/api/v2", credentials = {{ token = "env:MONEYBIRD_TOKEN" }} }}')
        target = "moneybird"
    else:
        (ws / "rules" / "client.rules").write_text(EXACT.read_text())
        secrets_file(ws, server)
        deliver_table = (f'deliver = {{ package = "exact-online", base_url = "{server.url}", credentials = {{ '
                         'client_id = "env:EXACT_CLIENT_ID", client_secret = "env:EXACT_CLIENT_SECRET", '
                         'refresh_token = "secrets:bakkerij.refresh_token", access_token = "secrets:bakkerij.access_token"'
                         ' } }')
        target = "exact-online-rest"
    (ws / "tillpost.toml").write_text(
        '[defaults]\ninterval = 0\nsecrets = "secrets.toml"\n\n[clients.bakkerij]\nrules = "rules/client.rules"\n'
        f'inbox = "inbox/bakkerij"\nexport = {{ target = "{target}", to = "out/bakkerij", {deliver_table} }}\n{extra}')
    return ws


def test_deliver_on_the_command_line_reads_the_workspace_and_lists_refusals_as_errors(db, tmp_path, moneybird,
                                                                                       monkeypatch):
    ws = workspace_with(tmp_path, moneybird)
    monkeypatch.setenv("MONEYBIRD_TOKEN", moneybird.token)
    run_for(load_rules(MONEYBIRD), db, "bakkerij", day())
    assert tp("export", "--db", db, "--client", "bakkerij", "--target", "moneybird", "-o", tmp_path,
              "--workspace", ws).exit_code == 0
    refused = sorted(deliveries(db))[-1]
    moneybird.fault("POST", match=lambda path, body: refused in json.dumps(body), status=422,
                    message="Tax rate is not found")
    result = tp("deliver", "--db", db, "--client", "bakkerij", "--workspace", ws)
    assert result.exit_code == 1
    assert f"error: refused by the package: {refused} (export 1 document" in result.stderr
    assert "Tax rate is not found" in result.stderr and "bakkerij: moneybird: 7 delivered, 1 refused by the package, " \
                                                       "0 waiting" in result.stderr
    assert moneybird.token not in result.stderr + result.stdout
    result = tp("deliver", "--db", db, "--client", "bakkerij", "--workspace", ws, "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["accepted"][0]["reference"] == refused
    monkeypatch.delenv("MONEYBIRD_TOKEN")
    missing = tp("deliver", "--db", db, "--client", "bakkerij", "--workspace", ws)
    assert missing.exit_code == 2 and "the environment variable MONEYBIRD_TOKEN is not set" in missing.stderr
    assert_exactly_once(db, moneybird)


@pytest.mark.parametrize("package", ["moneybird", "exact"])
def test_the_worker_exports_and_delivers_a_client_after_its_runs(db, tmp_path, package, request, monkeypatch):
    from test_service import drop

    from tillpost.service.worker import Service

    server = request.getfixturevalue(package)
    ws = workspace_with(tmp_path, server)
    if isinstance(server, Moneybird):
        monkeypatch.setenv("MONEYBIRD_TOKEN", server.token)
    else:
        monkeypatch.setenv("EXACT_CLIENT_ID", server.client_id)
        monkeypatch.setenv("EXACT_CLIENT_SECRET", server.client_secret)
    lines: list[str] = []
    service = Service(ws, db, log=lines.append)
    drop(ws, "bakkerij", "day.json", day())
    run_ = service.book_client("bakkerij")
    assert "export 1 (8 entries)" in run_.line() and "8 delivered, 0 refused by the package, 0 waiting" in run_.line()
    out = ws / "out" / "bakkerij"
    target = "moneybird" if package == "moneybird" else "exact-online-rest"
    assert [p.name for p in out.iterdir()] == [f"bakkerij-{target}-00001.json"]
    drop(ws, "bakkerij", "late.json", late_and_changed())
    run_ = service.book_client("bakkerij")
    assert "export 2 (" in run_.line()
    assert len(server.stored) == len(stored_entries(db, "bakkerij"))
    assert_exactly_once(db, server)
    assert_no_secret_anywhere(db, out, server, lines + [run_.line()])


def test_one_deliverer_at_a_time_and_an_expired_lease_is_taken_over(db, tmp_path, moneybird):
    booked_and_exported(db, moneybird, tmp_path)
    creds = credentials_for(moneybird, tmp_path)
    store = Store.open(db)
    store.begin()
    store._write("INSERT INTO delivery_leases (client, holder, expires) VALUES (?, ?, ?)",
                 (store.client_id, "elsewhere:1:abc", "2999-01-01T00:00:00+00:00"))
    store.commit()
    report, _ = deliver_now(db, moneybird, creds)
    assert report.stopped == "another deliverer is delivering this client's documents now" and not moneybird.requests
    store.begin()
    store._write("UPDATE delivery_leases SET expires = ?", ("2000-01-01T00:00:00+00:00",))  # it died long ago
    store.commit()
    store.close()
    report, _ = deliver_now(db, moneybird, creds)
    assert report.exit_code == 0 and ledgers.query(db, "SELECT * FROM delivery_leases") == []
    assert_exactly_once(db, moneybird)


def test_an_accepted_delivery_cannot_be_changed_or_accepted_twice(db, tmp_path, moneybird):
    booked_and_exported(db, moneybird, tmp_path)
    deliver_now(db, moneybird, credentials_for(moneybird, tmp_path))
    store = Store.open(db)
    try:
        for sql in ("DELETE FROM delivered", "UPDATE delivered SET package_id = 'x'"):
            store.begin()
            with pytest.raises(store.backend.errors, match="immutable"):
                store._write(sql)
            store.rollback()
        store.begin()
        with pytest.raises(store.backend.errors):  # a second acceptance of document 1 of export 1
            store._write("INSERT INTO delivered (client, export, document, reference, package, package_id, accepted) "
                         "VALUES (?, 1, 1, 'TP-x', 'moneybird', 'y', 'now')", (store.client_id,))
        store.rollback()
    finally:
        store.close()


# -- configuration -----------------------------------------------------------------------------


def test_the_deliver_table_is_checked_and_never_holds_a_credential(tmp_path, moneybird):
    from tillpost.service.workspace import load_workspace

    ws = workspace_with(tmp_path, moneybird)
    text = (ws / "tillpost.toml").read_text()
    (ws / "tillpost.toml").write_text(text.replace('token = "env:MONEYBIRD_TOKEN"', 'token = "mb-literal-token-1"'))
    loaded = load_workspace(ws)
    assert "bakkerij" in loaded.broken
    shown = loaded.diagnostics.format()
    assert "credentials are never written in tillpost.toml" in shown and "mb-literal-token-1" not in shown
    (ws / "tillpost.toml").write_text(text.replace('package = "moneybird"', 'package = "moneybirdd"'))
    assert "export.deliver package 'moneybirdd': expected one of moneybird, exact-online" in \
        load_workspace(ws).diagnostics.format()
    (ws / "tillpost.toml").write_text(text.replace('target = "moneybird"', 'target = "hledger"'))
    assert "package moneybird takes the documents of target 'moneybird', and this client exports 'hledger'" in \
        load_workspace(ws).diagnostics.format()
    (ws / "tillpost.toml").write_text(text.replace("base_url", "baseurl"))
    assert "unknown key 'baseurl' in export.deliver (did you mean 'base_url'?)" in load_workspace(ws).diagnostics.format()


def test_exacts_rotating_refresh_token_must_live_in_the_secrets_file():
    problems: list[str] = []
    parse_deliver({"package": "exact-online", "credentials": {
        "client_id": "env:A", "client_secret": "env:B", "refresh_token": "env:C"}}, "exact-online-rest", problems.append)
    assert problems == ["credential 'refresh_token' of Exact Online must be a key of the secrets file (secrets:KEY): "
                        "Exact Online issues a new one when it is used, and tillpost keeps it there"]


def test_credentials_missing_are_clear_errors(tmp_path):
    with pytest.raises(CredentialError, match="the secrets file .* has no text at key 'bakkerij.token'"):
        (tmp_path / "s.toml").write_text("[bakkerij]\nother = 'x'\n")
        resolve({"token": "secrets:bakkerij.token"}, tmp_path / "s.toml", {})
    with pytest.raises(CredentialError, match="add `secrets = \"secrets.toml\"` to \\[defaults\\]"):
        resolve({"token": "secrets:token"}, None, {})
    creds = resolve({"token": "env:T"}, None, {"T": "secret-value-1234"})
    assert "secret-value-1234" not in repr(creds) and creds.scrub("a secret-value-1234 b") == "a *** b"


def expire_leases(db) -> None:
    store = Store.open(db)
    try:
        store.begin()
        store._write("UPDATE delivery_leases SET expires = ?", ("2000-01-01T00:00:00+00:00",))
        store.commit()
    finally:
        store.close()


def test_a_failure_at_any_write_of_a_delivery_leaves_every_document_once_after_the_next_run(new_db, tmp_path,
                                                                                             monkeypatch):
    from test_ledger import receipt

    from tillpost.ledger.store import InjectedFailure

    receipts = [receipt("AMS01-K1-1", number="1")]  # three entries: cash, memorial (cost), sales
    real_write = Store._write

    def delivery_writes(fail_at: int | None):
        count = {"n": 0}

        def write(self, sql, params=()):
            count["n"] += 1
            if count["n"] == fail_at:
                raise InjectedFailure(f"injected failure before delivery write {count['n']}")
            return real_write(self, sql, params)

        return write, count

    server = Moneybird()
    try:
        db = new_db("count")
        (tmp_path / "count").mkdir()
        booked_and_exported(db, server, tmp_path / "count", receipts)
        write, count = delivery_writes(None)
        monkeypatch.setattr(Store, "_write", write)
        deliver_now(db, server, credentials_for(server, tmp_path))
        monkeypatch.setattr(Store, "_write", real_write)
        total = count["n"]
    finally:
        server.close()
    assert total >= 3 * 4
    for k in range(1, total + 1):
        server = Moneybird()
        try:
            db = new_db(f"ledger{k}")
            (tmp_path / f"out{k}").mkdir()
            booked_and_exported(db, server, tmp_path / f"out{k}", receipts)
            write, _ = delivery_writes(k)
            monkeypatch.setattr(Store, "_write", write)
            try:
                deliver_now(db, server, credentials_for(server, tmp_path))
            except InjectedFailure:
                pass
            else:
                assert k == total  # only the lease's release goes on without: the lease expires by itself
            monkeypatch.setattr(Store, "_write", real_write)
            expire_leases(db)  # the failed deliverer's lease runs out
            report, _ = deliver_now(db, server, credentials_for(server, tmp_path))
            assert report.exit_code == 0, (k, report.summary())
            assert len(server.stored) == 3, f"a failure at delivery write {k}: {server.references()}"
            assert_exactly_once(db, server)
        finally:
            server.close()


def test_the_dashboard_shows_the_packages_refusals(db, tmp_path, moneybird):
    """A document the package refused counts in the overview and shows with its message on its day."""
    from dashboards import add_users, signin
    from starlette.testclient import TestClient
    from tillpost.web.app import create_app

    booked_and_exported(db, moneybird, tmp_path)
    refused_ref = sorted(deliveries(db))[0]
    moneybird.fault("POST", match=lambda path, body: refused_ref in json.dumps(body, default=str), status=422,
                    message="Contact <b>20001</b> is not found")
    deliver_now(db, moneybird, credentials_for(moneybird, tmp_path))
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "tillpost.toml").write_text(f'[clients.default]\nrules = "{MONEYBIRD}"\ninbox = "inbox"\n')
    add_users(db, {"olga": ("operator", None)})
    client = TestClient(create_app(ws, db))
    signin(client, "olga")
    (row,) = client.get("/api/clients").json()["clients"]
    assert row["client"] == "default" and row["rejected_deliveries"] == 1
    day = json.loads(tp("status", "--db", db, "--format", "json").stdout)["days"][0]
    page = client.get(f"/clients/default/days/{day['date']}?store={day['store']}").text
    assert "rejected 1" in page and "Contact &lt;b&gt;20001&lt;/b&gt; is not found" in page
