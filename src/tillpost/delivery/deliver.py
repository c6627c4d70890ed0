"""`tillpost deliver`: the exported documents posted to the package, each exactly once.

Every document of an export to a package's target has a row in `deliveries`: pending,
accepted (the package's id and number; also a row in the immutable `delivered`) or rejected
(the package's message). A delivery run takes the client's documents that are not accepted, in
export order, and for each:

1. If an earlier post of it went out and its answer never came (`sent`: the process died,
   the connection broke, the answer timed out, a 5xx came back), the package is asked first
   whether it has a document with the reference; if so, that is the answer — accepted — and
   nothing is posted.
2. The attempt is recorded (`sent`, attempts + 1) and committed before the post goes out, so
   a kill at any moment leaves a trace that makes the next run ask first.
3. The answer is recorded: accepted, or rejected with the package's message (the document
   waits, with its reason, for the next delivery: "refused by the package").

Transient failures are retried with backoff by stamina: a 429 after the wait the package
asks (Retry-After; a wait longer than `max_wait` stops this client's delivery until the next
run), a 5xx or a timeout exponentially; each retry goes through step 1 again when the failure
may have left the document stored. A document that gets no answer after its tries stops the
client's delivery (the package is unwell); a refusal of our credentials or configuration stops
it at once. Either way the documents wait, and the reason is recorded and reported.

One process delivers a client's documents at a time: a lease in `delivery_leases`, taken and
renewed in the client's transaction with every document, that a killed deliverer's successor
takes over when it has expired (five minutes: after any of its requests could still be under way).
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import stamina

from ..ledger.store import Store
from .config import DeliverConfig
from .credentials import Credentials
from .transport import Answer, PackageDocument, Refused, Transient, Transport

# Longer than one document can take (its tries, 2 minutes, and a request's timeout): the lease is
# renewed with every document, and a killed deliverer's expires after this.
LEASE_SECONDS = 300

# stamina logs each retry to its logger; our own lines say what is retried and why. Without a
# handler anywhere, Python would print its bare event name on stderr.
logging.getLogger("stamina").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries of one document per delivery run
    timeout: float = 120.0  # seconds for all tries of one document
    wait_initial: float = 1.0
    wait_max: float = 30.0
    wait_jitter: float = 1.0
    max_wait: float = 60.0  # the longest Retry-After waited for; a longer one ends this run's delivery


@dataclass
class DeliveryReport:
    client: str
    package: str
    accepted: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    waiting: list[dict] = field(default_factory=list)  # not accepted or rejected after this run
    stopped: str | None = None  # why delivery stopped before the last document

    @property
    def exit_code(self) -> int:
        return 0 if not (self.rejected or self.waiting or self.stopped) else 1

    def summary(self) -> str:
        text = (f"{self.client}: {self.package}: {len(self.accepted)} delivered, {len(self.rejected)} refused by the "
                f"package, {len(self.waiting)} waiting")
        return text + (f"; stopped: {self.stopped}" if self.stopped else "")

    def as_dict(self) -> dict:
        return {"client": self.client, "package": self.package, "accepted": self.accepted, "rejected": self.rejected,
                "waiting": self.waiting, "stopped": self.stopped}


def make_transport(config: DeliverConfig, credentials: Credentials) -> Transport:
    if config.package.name == "moneybird":
        from .moneybird import MoneybirdTransport

        return MoneybirdTransport(config.base_url, config.administration or "", credentials, config.timeout)
    from .exact_online import ExactOnlineTransport

    return ExactOnlineTransport(config.base_url, credentials, config.timeout)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _stamp(t: _dt.datetime) -> str:
    return t.isoformat(timespec="seconds")


class _Stop(Exception):
    """This client's delivery ends here (the reason is in the report)."""


class Deliverer:
    def __init__(self, store: Store, config: DeliverConfig, credentials: Credentials, transport: Transport,
                 log: Callable[[str], None], policy: RetryPolicy, lease_seconds: float, details: bool = True):
        self.store, self.config, self.credentials, self.transport = store, config, credentials, transport
        self.log, self.policy, self.lease_seconds, self.details = log, policy, lease_seconds, details
        self.title = config.package.title
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.report = DeliveryReport(store.client, config.package.name)
        self.current = ""  # the reference of the document being delivered, for the retry lines

    def say(self, text: str, detail: bool = False) -> None:
        """A log line; `detail` lines (a document accepted) only when every document is to be shown."""
        if detail and not self.details:
            return
        self.log(self.credentials.scrub(f"{self.store.client}: {self.config.package.name}: {text}"))

    # -- the ledger ----------------------------------------------------------------------------

    def _transaction(self, work: Callable[[], None], renew: bool = True) -> None:
        """One short write transaction under the client's lock; the lease is renewed (and must
        still be ours) in it."""
        store = self.store
        store.begin()
        try:
            if renew:
                now = _now()
                held = store.query("SELECT holder FROM delivery_leases WHERE client = ?", (store.client_id,))
                if not held or held[0][0] != self.holder:
                    raise _Stop("another deliverer took over this client's documents (this one was too slow)")
                store._write("UPDATE delivery_leases SET expires = ? WHERE client = ?",
                             (_stamp(now + _dt.timedelta(seconds=self.lease_seconds)), store.client_id))
            work()
            store.commit()
        except BaseException:
            store.rollback()
            raise

    def take_lease(self) -> bool:
        store = self.store
        taken = {"ok": False}

        def work():
            now = _now()
            rows = store.query("SELECT holder, expires FROM delivery_leases WHERE client = ?", (store.client_id,))
            expires = _stamp(now + _dt.timedelta(seconds=self.lease_seconds))
            if not rows:
                store._write("INSERT INTO delivery_leases (client, holder, expires) VALUES (?, ?, ?)",
                             (store.client_id, self.holder, expires))
            elif rows[0][1] > _stamp(now) and rows[0][0] != self.holder:
                return
            else:
                store._write("UPDATE delivery_leases SET holder = ?, expires = ? WHERE client = ?",
                             (self.holder, expires, store.client_id))
            taken["ok"] = True

        self._transaction(work, renew=False)
        return taken["ok"]

    def release_lease(self) -> None:
        try:
            self._transaction(lambda: self.store._write(
                "DELETE FROM delivery_leases WHERE client = ? AND holder = ?", (self.store.client_id, self.holder)),
                renew=False)
        except Exception:  # it expires by itself
            pass

    def documents(self) -> list[tuple[PackageDocument, dict]]:
        rows = self.store.query(
            "SELECT d.export, d.document, d.reference, d.state, d.sent, d.attempts, b.kind, b.date, b.body "
            "FROM deliveries d JOIN export_documents b ON b.client = d.client AND b.export = d.export "
            "AND b.document = d.document JOIN exports x ON x.client = d.client AND x.id = d.export "
            "WHERE d.client = ? AND d.state <> 'accepted' AND x.target = ? ORDER BY d.export, d.document",
            (self.store.client_id, self.config.package.target))
        return [(PackageDocument(ref, kind, date, body, export, number),
                 {"state": state, "sent": bool(sent), "attempts": attempts})
                for export, number, ref, state, sent, attempts, kind, date, body in rows]

    def _key(self, doc: PackageDocument) -> tuple:
        return (self.store.client_id, doc.export, doc.number)

    def mark_sent(self, doc: PackageDocument) -> None:
        self._transaction(lambda: self.store._write(
            "UPDATE deliveries SET sent = 1, attempts = attempts + 1, package = ?, updated = ? "
            "WHERE client = ? AND export = ? AND document = ? AND state <> 'accepted'",
            (self.config.package.name, _stamp(_now()), *self._key(doc))))

    def record(self, doc: PackageDocument, answer: Answer) -> None:
        now = _stamp(_now())
        store = self.store

        def work():
            if answer.state == "accepted":
                store._write("INSERT INTO delivered (client, export, document, reference, package, package_id, number, "
                             "accepted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (*self._key(doc), doc.reference, self.config.package.name, answer.package_id,
                              answer.number, now))
                store._write("UPDATE deliveries SET state = 'accepted', sent = 0, package = ?, package_id = ?, "
                             "number = ?, message = NULL, updated = ? WHERE client = ? AND export = ? AND document = ?",
                             (self.config.package.name, answer.package_id, answer.number, now, *self._key(doc)))
            else:
                store._write("UPDATE deliveries SET state = 'rejected', sent = 0, package = ?, message = ?, "
                             "updated = ? WHERE client = ? AND export = ? AND document = ?",
                             (self.config.package.name, self.credentials.scrub(answer.message or "refused"), now,
                              *self._key(doc)))

        self._transaction(work)

    def note(self, doc: PackageDocument, message: str) -> None:
        """Why a document still waits (its state and `sent` stay as they are)."""
        self._transaction(lambda: self.store._write(
            "UPDATE deliveries SET message = ?, updated = ? WHERE client = ? AND export = ? AND document = ?",
            (self.credentials.scrub(message), _stamp(_now()), *self._key(doc))))

    # -- one document --------------------------------------------------------------------------

    def _retry(self, exc: Exception) -> bool | float:
        """stamina's hook: retry a transient failure, after the wait the package asks for."""
        if not isinstance(exc, Transient):
            return False
        if exc.retry_after is not None:
            if exc.retry_after > self.policy.max_wait:
                return False
            self.say(f"{self.current}: {exc}: waiting {exc.retry_after:g} s as {self.title} asks")
            return float(exc.retry_after)
        self.say(f"{self.current}: {exc}: trying again")
        return True

    def deliver_one(self, doc: PackageDocument, uncertain: bool) -> tuple[Answer, bool]:
        """The package's answer for `doc`, and whether it was found there rather than posted."""
        p = self.policy
        self.current = doc.reference
        for attempt in stamina.retry_context(on=self._retry, attempts=p.attempts, timeout=p.timeout,
                                             wait_initial=p.wait_initial, wait_max=p.wait_max,
                                             wait_jitter=p.wait_jitter):
            with attempt:
                if uncertain:
                    found = self.transport.find(doc)
                    if found is not None:
                        return found, True
                    uncertain = False
                self.mark_sent(doc)
                uncertain = True
                try:
                    answer = self.transport.post(doc)
                except Transient as e:
                    uncertain = e.maybe_stored
                    if uncertain:
                        self.say(f"{doc.reference}: {e}; {self.title} may hold it: asking before posting again")
                    raise
                return answer, False
        raise AssertionError("unreachable: stamina raises after the last attempt")

    # -- all of them ---------------------------------------------------------------------------

    def run(self) -> DeliveryReport:
        rep = self.report
        if not self.take_lease():
            rep.stopped = "another deliverer is delivering this client's documents now"
            self.say(rep.stopped)
            for doc, _ in self.documents():
                rep.waiting.append({"reference": doc.reference, "export": doc.export, "document": doc.number})
            return rep
        try:
            todo = self.documents()
            for i, (doc, state) in enumerate(todo):
                entry = {"reference": doc.reference, "export": doc.export, "document": doc.number}
                try:
                    answer, found = self.deliver_one(doc, state["sent"])
                except Transient as e:
                    why = f"no answer from {self.title} after its tries: {e}"
                    if e.retry_after is not None and e.retry_after > self.policy.max_wait:
                        why = f"{e}: it asks to wait {e.retry_after:g} s; the documents wait for the next delivery"
                    self.note(doc, why)
                    rep.stopped = why
                    rep.waiting += [{**entry, "message": why}] + [
                        {"reference": d.reference, "export": d.export, "document": d.number} for d, _ in todo[i + 1:]]
                    self.say(why)
                    break
                except Refused as e:
                    why = self.credentials.scrub(str(e))
                    self.note(doc, why)
                    rep.stopped = why
                    rep.waiting += [{**entry, "message": why}] + [
                        {"reference": d.reference, "export": d.export, "document": d.number} for d, _ in todo[i + 1:]]
                    self.say(why)
                    break
                self.record(doc, answer)
                if answer.state == "accepted":
                    rep.accepted.append({**entry, "package_id": answer.package_id, "number": answer.number,
                                         "found": found})
                    how = "found in the package after a lost answer" if found else "accepted"
                    self.say(f"{doc.reference} (export {doc.export} document {doc.number}): {how}: id "
                             f"{answer.package_id}" + (f", number {answer.number}" if answer.number else ""),
                             detail=not found)
                else:
                    message = self.credentials.scrub(answer.message or "refused")
                    rep.rejected.append({**entry, "message": message})
                    self.say(f"{doc.reference} (export {doc.export} document {doc.number}): refused by the package: "
                             f"{message}")
        except _Stop as e:
            rep.stopped = str(e)
            self.say(rep.stopped)
        finally:
            self.release_lease()
        return rep


def deliver(store: Store, config: DeliverConfig, credentials: Credentials, log: Callable[[str], None] = print,
            transport: Transport | None = None, policy: RetryPolicy = RetryPolicy(),
            lease_seconds: float = LEASE_SECONDS, details: bool = True) -> DeliveryReport:
    """Deliver the store's client's exported documents to its package; the report of what happened.
    `log` gets a line per document (`details`: also those accepted at the first post) and per retry."""
    store.require_client(existing=True)
    own = transport is None
    transport = transport or make_transport(config, credentials)
    try:
        return Deliverer(store, config, credentials, transport, log, policy, lease_seconds, details).run()
    finally:
        if own:
            transport.close()
