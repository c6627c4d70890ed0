"""Exact Online REST: the requests of the `exact-online-rest` target, posted one by one.

    POST {base}/api/v1/{division}/salesentry/SalesEntries
    POST {base}/api/v1/{division}/financialtransaction/CashEntries
    POST {base}/api/v1/{division}/generaljournalentry/GeneralJournalEntries

(start.exactonline.nl/docs: SalesEntrySalesEntries, FinancialTransactionCashEntries,
GeneralJournalEntryGeneralJournalEntries, FinancialTransactionTransactionLines.) The answer is
OData JSON, `{"d": {…}}`; an accepted entry's own id is its EntryID, its number EntryNumber.

OAuth: the access token lives ten minutes; on a 401 the transport asks
`{base}/api/oauth2/token` for a new one with the refresh token, once, and asks again.
Exact issues a new refresh token with it and the old one stops working: both are kept in the
secrets file at once (credentials.py). A refused refresh is reported: somebody signs in again.

The reference: a sales entry has YourRef; cash and general journal entries have no reference
of their own, so tillpost's is in the Notes of each of their lines. `find` asks for the sales
entry with that YourRef, or lists the transaction lines of the entry's journal and day and
matches the Notes.
"""

from __future__ import annotations

import datetime as _dt

import httpx

from .transport import Answer, HttpTransport, PackageDocument, Refused, Transient, dumps, loads, retry_after, short

MAX_PAGES = 50


def split(text: str) -> list[PackageDocument]:
    """The requests of an exported `exact-online-rest` file, in order; `body` is the whole request."""
    out = []
    for request in loads(text):
        body = request["body"]
        kind = request["path"].rsplit("/", 1)[-1]
        if kind == "SalesEntries":
            reference, date = body.get("YourRef", ""), body["EntryDate"]
        else:
            lines = body.get("CashEntryLines") or body.get("GeneralJournalEntryLines") or [{}]
            reference, date = lines[0].get("Notes", ""), lines[0].get("Date", "")
        out.append(PackageDocument(reference, kind, date, dumps(request)))
    return out


def _literal(text: str) -> str:
    """An OData string literal."""
    return "'" + text.replace("'", "''") + "'"


class ExactOnlineTransport(HttpTransport):
    package = "exact-online"
    title = "Exact Online"

    def headers(self) -> dict[str, str]:
        if not self.credentials.get("access_token"):
            self.refresh()
        return {"Authorization": f"Bearer {self.credentials.require('access_token')}", "Accept": "application/json",
                "Prefer": "return=representation"}

    def refresh(self) -> bool:
        """A new access token (and refresh token) for the refresh token; Refused when Exact refuses it."""
        data = {"grant_type": "refresh_token", "refresh_token": self.credentials.require("refresh_token"),
                "client_id": self.credentials.require("client_id"),
                "client_secret": self.credentials.require("client_secret")}
        try:
            response = self.http.post(f"{self.base_url}/api/oauth2/token", data=data,
                                      headers={"Accept": "application/json"})
        except httpx.TransportError as e:
            raise Transient(f"no new access token from Exact Online ({type(e).__name__})", maybe_stored=False) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise Transient(f"no new access token from Exact Online ({short(response)})", maybe_stored=False,
                            retry_after=self.wait_hint(response))
        answer = self.json(response) if response.status_code == 200 else None
        if not isinstance(answer, dict) or not answer.get("access_token"):
            reason = self._scrub(self.error_message(response))
            raise Refused(f"Exact Online refused the refresh token ({short(response)}{': ' + reason if reason else ''}):"
                          " sign in to Exact Online again and put the new refresh token in the secrets file")
        if answer.get("refresh_token"):
            self.credentials.keep("refresh_token", str(answer["refresh_token"]))
        self.credentials.keep("access_token", str(answer["access_token"]))
        return True

    def wait_hint(self, response: httpx.Response) -> float | None:
        wait = retry_after(response)
        if wait is None:  # Exact's own: when the minute's calls are there again, in epoch milliseconds
            reset = response.headers.get("X-RateLimit-Minutely-Reset")
            if reset and reset.strip().isdigit():
                now = _dt.datetime.now(_dt.timezone.utc).timestamp()
                wait = max(0.0, int(reset) / 1000 - now)
        return wait

    def error_message(self, response: httpx.Response) -> str:
        data = self.json(response)
        if isinstance(data, dict):
            error = data.get("error")
            if isinstance(error, dict):
                message = error.get("message")
                if isinstance(message, dict) and message.get("value"):
                    return str(message["value"])
                if message:
                    return str(message)
            for key in ("error_description", "error"):
                if isinstance(data.get(key), str) and data[key]:
                    return data[key]
        return response.text[:500].strip() or response.reason_phrase

    def post(self, document: PackageDocument) -> Answer:
        request = loads(document.body)
        response = self.request("POST", self.base_url + request["path"], content=dumps(request["body"]).encode("utf-8"),
                                headers={"Content-Type": "application/json"})
        if response.status_code == 409:
            return self.find(document) or Answer("rejected", message=self._scrub(self.error_message(response)))
        if response.status_code >= 400:
            return Answer("rejected", message=self._scrub(self.error_message(response)))
        data = self.json(response)
        entity = data.get("d") if isinstance(data, dict) else None
        if not isinstance(entity, dict) or not entity.get("EntryID"):
            raise Transient(f"Exact Online answered {response.status_code} without the entry's EntryID",
                            maybe_stored=True)
        return _accepted(entity)

    def find(self, document: PackageDocument) -> Answer | None:
        request = loads(document.body)
        division = request["path"].split("/")[3]  # /api/v1/{division}/…
        if document.kind == "SalesEntries":
            url = self.base_url + request["path"]
            params = {"$filter": f"YourRef eq {_literal(document.reference)}", "$select": "EntryID,EntryNumber,YourRef"}
            field = "YourRef"
        else:
            url = f"{self.base_url}/api/v1/{division}/financialtransaction/TransactionLines"
            journal = request["body"]["JournalCode"]
            params = {"$filter": f"JournalCode eq {_literal(journal)} and Date eq datetime'{document.date}T00:00:00'",
                      "$select": "EntryID,EntryNumber,Notes"}
            field = "Notes"
        for _ in range(MAX_PAGES):
            response = self.request("GET", url, params=params)
            if response.status_code >= 400:
                raise Transient(f"Exact Online would not list its entries ({response.status_code}: "
                                f"{self._scrub(self.error_message(response))})", maybe_stored=False)
            data = self.json(response)
            d = data.get("d") if isinstance(data, dict) else None
            rows = d.get("results") if isinstance(d, dict) else d
            if not isinstance(rows, list):
                raise Transient("Exact Online's list was not a list", maybe_stored=False)
            for row in rows:
                if isinstance(row, dict) and row.get(field) == document.reference and row.get("EntryID"):
                    return _accepted(row)
            following = d.get("__next") if isinstance(d, dict) else None
            if not following:
                return None
            if not str(following).startswith(self.base_url + "/"):  # our token goes to Exact only
                raise Transient("Exact Online's next page is elsewhere", maybe_stored=False)
            url, params = following, None
        raise Transient(f"more than {MAX_PAGES} pages of Exact Online entries on {document.date}: cannot tell whether "
                        "it holds this one", maybe_stored=False)


def _accepted(entity: dict) -> Answer:
    number = entity.get("EntryNumber")
    return Answer("accepted", package_id=str(entity["EntryID"]), number=None if number is None else str(number))
