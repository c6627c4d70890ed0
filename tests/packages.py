"""Accounting packages for the delivery tests: Moneybird and Exact Online REST on 127.0.0.1.

Each is an http.server in a thread of the test process that implements the endpoints tillpost
uses as the packages document them (paths, bodies, answers, list filters, pagination, OAuth),
validates every posted body by the target's schema (src/tillpost/targets/*/schema.json: the
packages publish none) and keeps what it accepted. Faults are queued per request and taken by
the first request they match:

    server.fault("POST", status=429, retry_after="1")          busy: wait and ask again
    server.fault("POST", status=500)                           failed (nothing stored)
    server.fault("POST", store_then_sleep=1.5)                 stores the document, answers too late
    server.fault("POST", status=422, message="…")              the package refuses the document
    exact.expire()                                             the access token expires (401)

`server.stored` is every document the package holds, `server.invalid` every body that broke
the schema (a test asserts it stays empty), `server.requests` what was asked.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema

TARGETS = Path(__file__).resolve().parents[1] / "src" / "tillpost" / "targets"


def _validator(target: str, definition: str):
    schema = json.loads((TARGETS / target / "schema.json").read_text(encoding="utf-8"))
    sub = {"$schema": schema["$schema"], "$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]}
    return jsonschema.Draft202012Validator(sub, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@dataclass
class Fault:
    method: str
    match: object = None  # a callable(path, body) → bool, or None for any request of the method
    status: int | None = None
    retry_after: str | None = None
    message: str = "fault"
    store_then_sleep: float | None = None
    headers: dict = field(default_factory=dict)


class Package:
    """The HTTP server, the faults and what is stored; a package fills in `handle`."""

    title = ""

    def __init__(self):
        self.stored: list[dict] = []
        self.invalid: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.seen_authorization: list[str] = []
        package = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _reply(self, status: int, body=None, headers: dict | None = None):
                data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _serve(self, method: str):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with package.lock:
                    package.requests.append((method, self.path))
                    package.seen_authorization.append(self.headers.get("Authorization", ""))
                try:
                    status, body, headers = package.dispatch(method, self.path, raw, self.headers)
                except _Sleep as s:
                    time.sleep(s.seconds)
                    try:
                        self._reply(*s.answer)
                    except OSError:  # the client has gone: that is the point
                        pass
                    return
                self._reply(status, body, headers)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fault(self, method: str, match=None, **kw) -> None:
        self.faults.append(Fault(method, match, **kw))

    def _take_fault(self, method: str, path: str, body) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.match is None and "/oauth2/" in path:  # a fault is the API's, unless it says otherwise
                    continue
                if f.method == method and (f.match is None or f.match(path, body)):
                    self.faults.remove(f)
                    return f
        return None

    def dispatch(self, method: str, path: str, raw: bytes, headers):
        body = json.loads(raw, parse_float=Decimal) if raw and headers.get("Content-Type", "").startswith(
            "application/json") else raw
        fault = self._take_fault(method, path, body)
        if fault is not None and fault.status is not None:
            extra = dict(fault.headers)
            if fault.retry_after is not None:
                extra["Retry-After"] = fault.retry_after
            return fault.status, self.error_body(fault.message), extra
        status, answer, extra = self.handle(method, path, body, headers)
        if fault is not None and fault.store_then_sleep is not None:
            raise _Sleep(fault.store_then_sleep, (status, answer, extra))
        return status, answer, extra

    def error_body(self, message: str):
        return {"error": message}

    def handle(self, method, path, body, headers):
        raise NotImplementedError

    def references(self) -> list[str]:
        return sorted(d["reference"] for d in self.stored)


class _Sleep(Exception):
    def __init__(self, seconds: float, answer: tuple):
        self.seconds, self.answer = seconds, answer


def _number_strings(obj):
    """JSON as a package reads it: numbers as the text they were."""
    return json.loads(json.dumps(obj, default=str))


# -- Moneybird -----------------------------------------------------------------------------------


class Moneybird(Package):
    """developer.moneybird.com: external sales invoices and general journal documents, API v2."""

    title = "Moneybird"
    KINDS = {"external_sales_invoices": "external_sales_invoice",
             "documents/general_journal_documents": "general_journal_document"}

    def __init__(self, administration: str = "123456789", token: str = "mb-token-0123456789abcdef"):
        super().__init__()
        self.administration = administration
        self.token = token
        self.validators = {kind: _validator("moneybird", kind) for kind in self.KINDS.values()}
        self.next_number = 100

    def handle(self, method, path, body, headers):
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"error": "Token is invalid or expired"}, {}
        parts = urlsplit(path)
        prefix = f"/api/v2/{self.administration}/"
        if not parts.path.startswith(prefix) or not parts.path.endswith(".json"):
            return 404, {"error": "Not found"}, {}
        resource = parts.path[len(prefix):-len(".json")]
        kind = self.KINDS.get(resource)
        if kind is None:
            return 404, {"error": "Not found"}, {}
        if method == "POST":
            if not isinstance(body, dict) or set(body) != {kind}:
                self.invalid.append(f"{resource}: body is not {{\"{kind}\": …}}")
                return 400, {"error": f"body must hold {kind}"}, {}
            document = _number_strings(body[kind])
            errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                      for e in self.validators[kind].iter_errors(document)]
            if errors:
                self.invalid.extend(errors)
                return 422, {"error": {"base": errors}}, {}
            with self.lock:
                self.next_number += 1
                stored = {**document, "id": str(400000000000000000 + self.next_number), "kind": kind,
                          "entry_number": self.next_number, "administration_id": int(self.administration)}
                self.stored.append(stored)
            return 201, stored, {}
        # GET: the list, filtered by period (and contact), page by page
        query = parse_qs(parts.query)
        terms = dict(t.split(":", 1) for t in query.get("filter", [""])[0].split(",") if ":" in t)
        page, per_page = int(query.get("page", ["1"])[0]), min(100, int(query.get("per_page", ["25"])[0]))
        found = [d for d in self.stored if d["kind"] == kind]
        if "period" in terms:
            first, last = terms["period"].split("..")
            found = [d for d in found if first <= d["date"].replace("-", "") <= last]
        if "contact_id" in terms:
            found = [d for d in found if d.get("contact_id") == terms["contact_id"]]
        return 200, found[(page - 1) * per_page:page * per_page], {}


# -- Exact Online ---------------------------------------------------------------------------------


class ExactOnline(Package):
    """start.exactonline.nl/docs: SalesEntries, CashEntries, GeneralJournalEntries, TransactionLines,
    and the OAuth token endpoint (refresh tokens rotate: the old one stops working)."""

    title = "Exact Online"
    ENDPOINTS = {"salesentry/SalesEntries": "SalesEntry", "financialtransaction/CashEntries": "CashEntry",
                 "generaljournalentry/GeneralJournalEntries": "GeneralJournalEntry"}

    def __init__(self, division: str = "123456", client_id: str = "eol-client-id-42",
                 client_secret: str = "eol-client-secret-42"):
        super().__init__()
        self.division = division
        self.client_id, self.client_secret = client_id, client_secret
        self.access_token = "eol-access-" + uuid.uuid4().hex
        self.refresh_token = "eol-refresh-" + uuid.uuid4().hex
        self.issued: list[str] = [self.access_token, self.refresh_token]  # every token ever handed out
        self.refreshes = 0
        self.validators = {name: _validator("exact-online-rest", name) for name in self.ENDPOINTS.values()}
        self.next_number = 26100000
        self.lines: list[dict] = []  # transaction lines of every stored entry

    def expire(self) -> None:
        """The access token runs out (Exact's live ten minutes)."""
        self.access_token = "eol-access-" + uuid.uuid4().hex
        self.issued.append(self.access_token)

    def error_body(self, message: str):
        return {"error": {"code": "", "message": {"lang": "", "value": message}}}

    def handle(self, method, path, body, headers):
        parts = urlsplit(path)
        if parts.path == "/api/oauth2/token":
            return self.token(body)
        if headers.get("Authorization") != f"Bearer {self.access_token}":
            return 401, b"", {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="expired"'}
        prefix = f"/api/v1/{self.division}/"
        if not parts.path.startswith(prefix):
            return 404, self.error_body("Division not found"), {}
        resource = parts.path[len(prefix):]
        if method == "GET":
            return self.search(resource, parse_qs(parts.query))
        name = self.ENDPOINTS.get(resource)
        if name is None:
            return 404, self.error_body("Not found"), {}
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in self.validators[name].iter_errors(body)]
        if errors:
            self.invalid.extend(errors)
            return 400, self.error_body("; ".join(errors)), {}
        with self.lock:
            self.next_number += 1
            entry_id = str(uuid.uuid4())
            lines = body.get("SalesEntryLines") or body.get("CashEntryLines") or body["GeneralJournalEntryLines"]
            reference = body.get("YourRef") if name == "SalesEntry" else lines[0].get("Notes")
            stored = {"EntryID": entry_id, "EntryNumber": self.next_number, "kind": name, "reference": reference,
                      "body": _number_strings(body)}
            self.stored.append(stored)
            journal = body.get("Journal") or body.get("JournalCode")
            for line in lines:
                self.lines.append({"EntryID": entry_id, "EntryNumber": self.next_number, "JournalCode": journal,
                                   "Date": line.get("Date") or body.get("EntryDate"), "Notes": line.get("Notes")})
        return 201, {"d": {"EntryID": entry_id, "EntryNumber": self.next_number, **_number_strings(body)}}, {}

    def search(self, resource: str, query: dict):
        text = query.get("$filter", [""])[0]
        if resource == "salesentry/SalesEntries":
            want = text.split("YourRef eq ", 1)[1].strip()[1:-1].replace("''", "'") if "YourRef eq " in text else None
            rows = [{"EntryID": d["EntryID"], "EntryNumber": d["EntryNumber"], "YourRef": d["reference"]}
                    for d in self.stored if d["kind"] == "SalesEntry" and (want is None or d["reference"] == want)]
            return 200, {"d": {"results": rows}}, {}
        if resource == "financialtransaction/TransactionLines":
            journal = text.split("JournalCode eq '", 1)[1].split("'", 1)[0]
            date = text.split("Date eq datetime'", 1)[1][:10]
            rows = [{"EntryID": l["EntryID"], "EntryNumber": l["EntryNumber"], "Notes": l["Notes"]}
                    for l in self.lines if l["JournalCode"] == journal and l["Date"] == date]
            page = int(query.get("$skiptoken", ["0"])[0])
            chunk = rows[page * 60:(page + 1) * 60]
            d = {"results": chunk}
            if len(rows) > (page + 1) * 60:
                d["__next"] = (f"{self.url}/api/v1/{self.division}/{resource}?$filter="
                               f"{query['$filter'][0]}&$skiptoken={page + 1}")
            return 200, {"d": d}, {}
        return 404, self.error_body("Not found"), {}

    def token(self, body):
        form = parse_qs(body.decode() if isinstance(body, bytes) else "")
        get = lambda k: form.get(k, [""])[0]  # noqa: E731
        if get("grant_type") != "refresh_token" or get("client_id") != self.client_id or \
                get("client_secret") != self.client_secret or get("refresh_token") != self.refresh_token:
            return 400, {"error": "invalid_grant", "error_description": "Old refresh token used."}, {}
        with self.lock:
            self.refreshes += 1
            self.access_token = "eol-access-" + uuid.uuid4().hex
            self.refresh_token = "eol-refresh-" + uuid.uuid4().hex
            self.issued += [self.access_token, self.refresh_token]
        return 200, {"access_token": self.access_token, "token_type": "bearer", "expires_in": "600",
                     "refresh_token": self.refresh_token}, {}
