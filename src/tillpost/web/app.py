"""The dashboard's ASGI app: routes, sign-in, sessions, CSRF, access, and the JSON twins.

Every page P has a JSON twin at /api/P (the overview `/` at /api/clients) carrying the
data the page shows; a day's twin is exactly `tillpost status --client NAME --date D
--format json`. Pages are read in one snapshot of the ledger (`Store.begin_read`).

Access. Every page and API call needs a signed-in session; anonymous pages redirect to
/signin, anonymous API calls get 401. A user sees the clients granted: any other client,
existing or not, is the same 404, so names are not given away. A viewer's POST is 403.
Every POST carries the session's CSRF token (a hidden form field, or the X-CSRF-Token
header for API calls); without it, or with another, it is refused with 403 and nothing
is done. A session ends when its user is removed or gets a new password.

Wrong passwords are slowed down: after each failure for a name or an address the answer
waits 0.5 s, doubling up to 16 s, and attempts for that name or address that come in
meanwhile are refused (429) without looking at the password.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import hmac
import json
import secrets
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..ledger.store import LedgerError, Store, shown_db
from ..service.worker import Service
from ..service.workspace import WorkspaceError
from . import actions, chart, views
from .days import DayCache
from .users import User, find_user, session_secret, verify_password

STATIC = Path(__file__).parent / "static"
SESSION_HOURS = 12


# -- wrong passwords ------------------------------------------------------------------------------


class Throttle:
    """Failed sign-ins per key (a name, an address): each failure makes the next attempt wait longer."""

    def __init__(self, base: float = 0.5, cap: float = 16.0, forget_after: float = 900.0, clock=time.monotonic):
        self.base, self.cap, self.forget_after, self.clock = base, cap, forget_after, clock
        self._failures: dict[tuple, tuple[int, float]] = {}  # key → (failures, not before)
        self._lock = threading.Lock()

    def wait(self, keys) -> float:
        """Seconds until these keys may try again (0: now)."""
        now = self.clock()
        with self._lock:
            return max((self._failures.get(k, (0, 0.0))[1] - now for k in keys), default=0.0) if keys else 0.0

    def failed(self, keys) -> float:
        now = self.clock()
        delay = 0.0
        with self._lock:
            if len(self._failures) > 10000:  # forget old ones rather than grow without end
                for k, (_, until) in list(self._failures.items()):
                    if until + self.forget_after < now:
                        del self._failures[k]
            for k in keys:
                n, until = self._failures.get(k, (0, 0.0))
                if until + self.forget_after < now:
                    n = 0
                n += 1
                d = min(self.cap, self.base * 2 ** (n - 1))
                self._failures[k] = (n, now + d)
                delay = max(delay, d)
        return delay

    def succeeded(self, keys) -> None:
        with self._lock:
            for k in keys:
                self._failures.pop(k, None)


# -- the dashboard --------------------------------------------------------------------------------


class Dashboard:
    """The workspace and ledger a dashboard serves, and what it keeps between requests."""

    def __init__(self, workspace, db: str, throttle: Throttle | None = None, sleep=asyncio.sleep, delivery=None,
                 log=None):
        self.db = db
        self.service = Service(workspace, db, log=log or (lambda line: print(line, file=sys.stderr)))
        self.cache = DayCache()
        self.throttle = throttle or Throttle()
        self.sleep = sleep
        self.delivery = delivery or views.rejected_deliveries  # §14: rejected deliveries per client
        self.env = Environment(loader=PackageLoader("tillpost.web", "templates"),
                               autoescape=select_autoescape(["html", "svg"], default=True),
                               trim_blocks=True, lstrip_blocks=True)
        self.env.filters["age"] = _age_text
        self.env.filters["pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False, sort_keys=True)
        self.env.filters["stored"] = views.pretty_json
        self.env.globals["query"] = _query

    # -- the ledger, one snapshot per request ----------------------------------------------------

    @contextmanager
    def snapshot(self):
        store = Store.open(self.db, readonly=True)
        try:
            store.check_current()
            store.begin_read()
            try:
                yield store
            finally:
                store.end_read()
        finally:
            store.close()

    def configured(self) -> dict[str, str | None]:
        """The workspace's clients → why one cannot run (None: it can)."""
        try:
            ws = self.service.workspace()
        except WorkspaceError:
            return {}
        out: dict[str, str | None] = {name: None for name in ws.clients}
        out.update({name: "; ".join(reasons) for name, reasons in ws.broken.items()})
        return out

    def visible(self, store: Store, user: User) -> list[str]:
        names = set(views.client_ids(store)) | set(self.configured())
        return sorted(n for n in names if user.sees(n))

    def open_client(self, store: Store, user: User, name: str) -> None:
        """Point the store at a client the user may see; any other is the same 404."""
        if not user.sees(name) or name not in self.visible(store, user):
            raise views.NotFound("no such client")
        store.use_client(name)

    def signed_in(self, request: Request, store: Store) -> User | None:
        name = request.session.get("user")
        if not isinstance(name, str):
            return None
        user = find_user(store, name)
        if user is None or request.session.get("stamp") != user.stamp:
            request.session.pop("user", None)
            return None
        return user

    # -- answers ---------------------------------------------------------------------------------

    def render(self, request: Request, template: str, data: dict, user: User | None = None, status: int = 200,
               **extra) -> HTMLResponse:
        flashes = request.session.pop("flash", []) if "session" in request.scope else []
        html = self.env.get_template(template).render(
            data=data, user=user, csrf=csrf_token(request), flashes=flashes, path=request.url.path,
            api=api_path(request), request=request, **extra)
        return HTMLResponse(html, status_code=status)

    def problem(self, request: Request, status: int, message: str, user: User | None = None) -> Response:
        if is_api(request):
            return JSONResponse({"error": message}, status_code=status)
        titles = {401: "Sign in first", 403: "Not allowed", 404: "Not found", 409: "Nothing done",
                  429: "Wait a moment", 503: "The ledger cannot be read now", 500: "This page could not be shown"}
        return self.render(request, "problem.html", {"status": status, "title": titles.get(status, "Problem"),
                                                      "message": message}, user, status=status)


def _age_text(seconds) -> str:
    if seconds is None:
        return "never"
    seconds = int(seconds)
    if seconds < 90:
        return f"{seconds} s ago"
    minutes = seconds // 60
    if minutes < 90:
        return f"{minutes} min ago"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60} min ago"
    return f"{hours // 24} days ago"


def _query(**params) -> str:
    """A query string of the parameters given (none left: empty); page 1 and empty values left out."""
    kept = {k: v for k, v in params.items() if v not in (None, "", 1)}
    return "?" + urlencode(kept) if kept else ""


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def api_path(request: Request) -> str:
    path = request.url.path
    if path.startswith("/api/"):
        return path
    twin = "/api/clients" if path == "/" else "/api" + path
    return twin + (f"?{request.url.query}" if request.url.query else "")


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def _csrf_ok(request: Request, form) -> bool:
    expected = request.session.get("csrf")
    given = form.get("csrf") if form is not None else None
    given = given or request.headers.get("x-csrf-token")
    return isinstance(expected, str) and isinstance(given, str) and hmac.compare_digest(expected, given)


def _local(target: str | None, fallback: str = "/") -> str:
    """Only a path on this site: a redirect never leads elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or "\n" in target:
        return fallback
    return target


def _flash(request: Request, kind: str, text: str) -> None:
    request.session.setdefault("flash", [])
    request.session["flash"] = [*request.session["flash"], {"kind": kind, "text": text}][-5:]


# -- pages ----------------------------------------------------------------------------------------


def make_app(dash: Dashboard, secret: str, https_only: bool = False) -> Starlette:
    def page(template: str | None):
        """A GET page and its JSON twin: fn(request, store, user) → data (or a Response)."""
        def wrap(fn):
            def endpoint(request: Request) -> Response:
                user = None
                try:
                    with dash.snapshot() as store:
                        user = dash.signed_in(request, store)
                        if user is None:
                            if is_api(request):
                                return dash.problem(request, 401, "sign in first (POST /signin)")
                            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                            return RedirectResponse("/signin" + _query(next=target if target != "/" else None),
                                                    status_code=303)
                        data = fn(request, store, user)
                except views.NotFound as e:
                    return dash.problem(request, 404, str(e), user)
                except LedgerError as e:
                    return dash.problem(request, 503, str(e), user)
                except Exception as e:  # noqa: BLE001  (the page says what went wrong; the log has the rest)
                    return _failed(dash, request, e, user)
                if isinstance(data, Response):
                    return data
                if is_api(request) or template is None:
                    return JSONResponse(data, headers={"Cache-Control": "no-store"})
                partial = request.headers.get("hx-request") == "true"  # htmx asks for the fragment only
                return dash.render(request, template, data, user, partial=partial)
            return endpoint
        return wrap

    def now() -> _dt.datetime:
        return _dt.datetime.now(_dt.timezone.utc)

    @page("overview.html")
    def overview(request, store, user):
        return views.overview(store, dash.visible(store, user), dash.cache, dash.configured(), now(), dash.delivery)

    @page("client.html")
    def client(request, store, user):
        name = request.path_params["client"]
        dash.open_client(store, user, name)
        configured = dash.configured()
        data = views.client_page(store, name, dash.cache, request.query_params.get("month"), now(),
                                 name in configured, configured.get(name))
        if not is_api(request):
            data["chart"] = chart.geometry(data["turnover"])
            data["runs"] = views.runs_page(store, 1)["runs"][:5] if data["in_ledger"] else []
        return data

    @page("day.html")
    def day(request, store, user):
        name = request.path_params["client"]
        dash.open_client(store, user, name)
        date = views.parse_date(request.path_params["date"])
        shop = request.query_params.get("store") or None
        if store.client_id is None:
            raise views.NotFound(f"nothing arrived on {date}")
        report = views.day_report(store, date, shop)
        if is_api(request):
            return report
        lists = {}
        asked = request.query_params.get("list")
        for d in report["days"]:
            which = asked if asked in views.LISTS and (shop or len(report["days"]) == 1) else _first_list(d)
            lists[d["store"]] = views.receipt_list(store, date, d["store"], which, request.query_params.get("q", ""),
                                                   request.query_params.get("page", 1))
        entries = views.day_entries(store, date, shop, request.query_params.get("entries", 1))
        return {"client": name, "date": date, "store": shop, "report": report, "lists": lists, "entries": entries}

    @page("_receipts.html")
    def day_receipts(request, store, user):
        name = request.path_params["client"]
        dash.open_client(store, user, name)
        date = views.parse_date(request.path_params["date"])
        shop = request.query_params.get("store")
        if store.client_id is None or shop is None:
            raise views.NotFound("say which store (?store=S)")
        counts = _counts(store, date, shop)
        if not sum(counts.values()):
            raise views.NotFound(f"nothing arrived on {date} for store {shop}")
        found = views.receipt_list(store, date, shop, request.query_params.get("list", "booked"),
                                   request.query_params.get("q", ""), request.query_params.get("page", 1))
        if is_api(request):
            return found
        return {"client": name, "date": date, "list": found, "counts": counts}

    @page("_entries.html")
    def day_entries(request, store, user):
        name = request.path_params["client"]
        dash.open_client(store, user, name)
        date = views.parse_date(request.path_params["date"])
        if store.client_id is None:
            raise views.NotFound(f"nothing arrived on {date}")
        found = views.day_entries(store, date, request.query_params.get("store") or None,
                                  request.query_params.get("page", 1))
        if is_api(request):
            return found
        return {"client": name, "date": date, "store": request.query_params.get("store") or None, "entries": found}

    def _receipt(kind: str):
        def fn(request, store, user):
            name = request.path_params["client"]
            dash.open_client(store, user, name)
            rid = request.path_params["receipt"]
            if store.client_id is None:
                raise views.NotFound(f"no {kind} {rid}")
            data = views.receipt_page(store, rid, kind)
            data["explain"] = _explain(dash, name, data["receipt"], kind)
            return data
        return fn

    receipt = page("receipt.html")(_receipt("receipt"))
    closing = page("receipt.html")(_receipt("closing"))

    @page("entry.html")
    def entry(request, store, user):
        name = request.path_params["client"]
        dash.open_client(store, user, name)
        if store.client_id is None:
            raise views.NotFound("no such entry")
        return {"client": name, "entry": views.entry_page(store, request.path_params["entry"])}

    @page("runs.html")
    def runs(request, store, user):
        name = request.path_params["client"]
        dash.open_client(store, user, name)
        if store.client_id is None:
            return {"client": name, "page": 1, "pages": 1, "total": 0, "runs": []}
        return views.runs_page(store, request.query_params.get("page", 1))

    @page("errors.html")
    def errors(request, store, user):
        return views.errors_page(store, dash.visible(store, user))

    # -- actions ---------------------------------------------------------------------------------

    def action(fn):
        """A POST: signed in (401), its CSRF token (403), a client the user sees (404), an operator (403)."""
        async def endpoint(request: Request) -> Response:
            form = await request.form()
            name = request.path_params["client"]

            def check():
                with dash.snapshot() as store:
                    user = dash.signed_in(request, store)
                    if user is None:
                        return None, dash.problem(request, 401, "sign in first")
                    if not _csrf_ok(request, form):
                        return user, dash.problem(request, 403, "this form has expired or did not come from this "
                                                                "dashboard (no valid CSRF token): reload the page "
                                                                "and try again", user)
                    try:
                        dash.open_client(store, user, name)
                    except views.NotFound as e:
                        return user, dash.problem(request, 404, str(e), user)
                    if not user.operator:
                        return user, dash.problem(request, 403, f"{user.name} is a viewer: only an operator can "
                                                                "retry and run", user)
                    return user, None

            try:
                user, refused = await run_in_threadpool(check)
            except LedgerError as e:
                return dash.problem(request, 503, str(e))
            if refused is not None:
                return refused
            back = _local(form.get("next"), f"/clients/{name}")
            try:
                return await run_in_threadpool(fn, request, form, user, name, back)
            except views.NotFound as e:
                return dash.problem(request, 404, str(e), user)
            except actions.ActionError as e:
                if is_api(request):
                    return dash.problem(request, 409, str(e), user)
                _flash(request, "error", str(e))
                return RedirectResponse(back, status_code=303)
            except LedgerError as e:
                return dash.problem(request, 503, str(e), user)
            except Exception as e:  # noqa: BLE001
                return _failed(dash, request, e, user)
        return endpoint

    @action
    def retry(request, form, user, name, back):
        date = form.get("date") or None
        if date:
            date = views.parse_date(date)
        result = actions.retry(dash.service, dash.db, name, user.name, date, form.get("store") or None,
                               form.get("reason") or None)
        c = result.counts
        text = (f"retried {c['error'] + c['booked'] + c['late'] + c['changed'] + c['open'] + c['voided']} receipt(s) "
                f"in run {result.run}: {c['booked'] + c['late'] + c['changed']} booked, {c['error']} still in error; "
                f"{c['entries']} entries")
        if is_api(request):
            return JSONResponse(result.as_dict())
        _flash(request, "ok" if not c["error"] else "error", text)
        return RedirectResponse(back, status_code=303)

    @action
    def final(request, form, user, name, back):
        from ..ledger.watch import summarize

        run = actions.final(dash.service, name)
        files, counts = summarize(run.outcomes)
        if is_api(request):
            return JSONResponse({"client": name, "files": [
                {"file": o.path.name, "state": o.state, "counts": o.counts, "reason": o.reason} for o in run.outcomes],
                "counts": counts, "summary": run.line()})
        failed = [o for o in run.outcomes if o.state == "failed"]
        _flash(request, "error" if failed or counts["error"] else "ok", f"final run: {files}: "
               f"{counts['booked']} booked, {counts['late']} late, {counts['changed']} changed, {counts['open']} open, "
               f"{counts['voided']} voided, {counts['error']} errors"
               + "".join(f" — {o.path.name}: {o.reason}" for o in failed))
        return RedirectResponse(back, status_code=303)

    @action
    def trial(request, form, user, name, back):
        files = actions.trial(dash.service, dash.db, name)
        data = {"client": name, "files": [{"file": f.name, "problem": f.problem,
                                           "result": f.result.as_dict() if f.result else None} for f in files]}
        if is_api(request):
            return JSONResponse(data)
        return dash.render(request, "trial.html", data, user)

    # -- signing in and out -------------------------------------------------------------------------

    async def signin_form(request: Request) -> Response:
        return dash.render(request, "signin.html", {"next": _local(request.query_params.get("next"), "/"),
                                                     "message": None, "name": ""})

    async def signin(request: Request) -> Response:
        form = await request.form()
        name = str(form.get("name") or "")[:200]
        password = str(form.get("password") or "")
        target = _local(form.get("next"), "/")
        again = {"next": target, "name": name}
        if not _csrf_ok(request, form):
            return dash.render(request, "signin.html", {**again, "message": "The form had expired: sign in again."},
                               status=403)
        host = request.client.host if request.client else "?"
        keys = [("name", name.lower()), ("address", host)]
        wait = dash.throttle.wait(keys)
        if wait > 0:
            answer = dash.render(request, "signin.html", {**again, "message": f"Too many wrong passwords: wait "
                                                          f"{int(wait) + 1} s and try again."}, status=429)
            answer.headers["Retry-After"] = str(int(wait) + 1)
            return answer

        def check():
            store = Store.open(dash.db, readonly=True)
            try:
                store.check_current()
                user = find_user(store, name)
            finally:
                store.close()
            return user, verify_password(user, password)

        try:
            user, ok = await run_in_threadpool(check)
        except LedgerError as e:
            return dash.problem(request, 503, str(e))
        if not ok:
            await dash.sleep(dash.throttle.failed(keys))
            return dash.render(request, "signin.html", {**again, "message": "Wrong name or password."}, status=401)
        dash.throttle.succeeded(keys)
        request.session.clear()
        request.session.update({"user": user.name, "stamp": user.stamp, "csrf": secrets.token_urlsafe(32)})
        return RedirectResponse(target, status_code=303)

    async def signout(request: Request) -> Response:
        form = await request.form()
        if not _csrf_ok(request, form):
            return dash.problem(request, 403, "this form has expired: reload the page and sign out again")
        request.session.clear()
        return RedirectResponse("/signin", status_code=303)

    def both(path: str, endpoint, methods=("GET",), api: str | None = None) -> list[Route]:
        return [Route(path, endpoint, methods=list(methods)), Route(api or "/api" + path, endpoint, methods=list(methods))]

    routes = [
        Route("/signin", signin_form, methods=["GET"]),
        Route("/signin", signin, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        *both("/", overview, api="/api/clients"),
        *both("/errors", errors),
        *both("/clients/{client}", client),
        *both("/clients/{client}/runs", runs),
        *both("/clients/{client}/days/{date}", day),
        *both("/clients/{client}/days/{date}/receipts", day_receipts),
        *both("/clients/{client}/days/{date}/entries", day_entries),
        *both("/clients/{client}/receipts/{receipt:path}", receipt),
        *both("/clients/{client}/closings/{receipt:path}", closing),
        *both("/clients/{client}/entries/{entry}", entry),
        *both("/clients/{client}/retry", retry, methods=("POST",)),
        *both("/clients/{client}/trial", trial, methods=("POST",)),
        *both("/clients/{client}/final", final, methods=("POST",)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    async def not_found(request, exc):
        return _plain_problem(dash, request, exc.status_code, "no such page" if exc.status_code == 404 else
                              (exc.detail or "refused"))

    async def failure(request, exc):
        return _failed(dash, request, exc, None)

    app = Starlette(routes=routes, middleware=[
        Middleware(SecurityHeaders),
        Middleware(SessionMiddleware, secret_key=secret, session_cookie="tillpost_session",
                   max_age=SESSION_HOURS * 3600, same_site="lax", https_only=https_only),
    ], exception_handlers={404: not_found, 405: not_found, Exception: failure})
    app.state.dashboard = dash
    return app


def _plain_problem(dash: Dashboard, request: Request, status: int, message: str) -> Response:
    if "session" not in request.scope:
        return Response(message, status_code=status, media_type="text/plain")
    return dash.problem(request, status, message)


def _failed(dash: Dashboard, request: Request, e: BaseException, user) -> Response:
    """Something tillpost did not expect: the user is told what, the server's log gets the traceback."""
    print(f"tillpost serve: {request.method} {request.url.path}: {type(e).__name__}: {e}", file=sys.stderr)
    traceback.print_exception(e, file=sys.stderr)
    message = (f"tillpost could not show this page ({type(e).__name__}: {e}). Nothing was changed. "
               "The server's log has the details; please report it.")
    try:
        return dash.problem(request, 500, message, user)
    except Exception:  # noqa: BLE001  (even the page template failed)
        return Response(message, status_code=500, media_type="text/plain")


def _first_list(d: dict) -> str:
    for which in ("error", "open", "changed", "late", "booked", "voided"):
        if d["counts"][which]:
            return which
    return "booked"


def _counts(store: Store, date: str, shop: str) -> dict:
    counts = {s: 0 for s in views.LISTS}
    for st, n in store.query("SELECT status, COUNT(*) FROM receipts WHERE client = ? AND kind = 'receipt' AND date = ? "
                             "AND store = ? GROUP BY status", (store.client_id, date, shop)):
        counts[st] = n
    counts["backdated"] = store.query(
        "SELECT COUNT(*) FROM receipts WHERE client = ? AND kind = 'receipt' AND date = ? AND store = ? "
        "AND created IS NOT NULL AND substr(created, 1, 10) > date", (store.client_id, date, shop))[0][0]
    return counts


def _explain(dash: Dashboard, client: str, receipt: dict, kind: str) -> dict:
    """How the client's rules as they are now book the content the ledger kept."""
    if receipt["content_stored"] is None:
        return {"text": None, "note": "The ledger keeps a receipt's content only while it waits (open or in error); "
                                      "what was booked is in its postings above."}
    config = dash.service.client(client)
    if config is None:
        return {"text": None, "note": "The client is not in the workspace: its rules are not at hand."}
    ruleset, problem = dash.service.ruleset(config)
    if ruleset is None:
        return {"text": None, "note": f"{config.rules}: {problem}"}
    from ..ledger.process import stored_records

    records = stored_records([(receipt["source"], receipt["id"], receipt["content_stored"])])
    from ..api import explain_receipt

    text, found = explain_receipt(ruleset, records, receipt["id"])  # a closing too, where closings are booked (§11)
    if not found:
        return {"text": None, "note": f"This tillpost cannot explain this {kind} from its stored content."}
    folder = str(dash.service.workspace().folder) + "/"  # rule files as the workspace names them
    return {"text": text.replace(folder, ""), "note": f"with {str(config.rules).replace(folder, '')} as it is now"}


class SecurityHeaders:
    """What every answer says to the browser: only this site's scripts and styles, never in a frame."""

    HEADERS = [
        (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                     b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
    ]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def sending(message):
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() not in dict(self.HEADERS)]
                extra = list(self.HEADERS)
                if not scope["path"].startswith("/static/"):
                    extra.append((b"cache-control", b"no-store"))
                    headers = [h for h in headers if h[0].lower() != b"cache-control"]
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, sending)


def create_app(workspace, db: str, https_only: bool = False, **options) -> Starlette:
    """The dashboard over WORKSPACE and the ledger DB (which must exist, with its users)."""
    import os

    from ..ledger.store import is_postgres

    dash = Dashboard(workspace, db, **options)
    dash.service.workspace()  # a workspace unusable as a whole stops here
    first = ("add the first user with `tillpost users add NAME --role operator --db DB` (it creates the "
             "ledger's users table when need be)")
    if not is_postgres(db) and not (os.path.isfile(db) and os.path.getsize(db) > 0):
        raise LedgerError(f"{db}: no ledger here yet: {first}")
    store = Store.open(db, readonly=True)
    try:
        if store.version() == 0:
            raise LedgerError(f"{shown_db(db)}: no ledger here yet: {first}")
        if "users" not in store.applied_extensions() or not store.query("SELECT 1 FROM users LIMIT 1"):
            raise LedgerError(f"{shown_db(db)}: nobody can sign in yet: {first}")
        store.check_current()
        secret = session_secret(store)
    finally:
        store.close()
    return make_app(dash, secret, https_only)
