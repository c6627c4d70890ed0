"""What a package's transport does, and the HTTP every package shares.

A transport takes one document of an export at a time:

    post(document)  → Answer    the package's answer: accepted (its id, its number) or
                                rejected (its message); raises Transient when there is no
                                answer that counts, Refused when the package refuses us
    find(document)  → Answer | None   does the package have a document with this reference?
                                (asked before posting again after an answer was lost)

`split(text)` of a package module turns an exported file of its target into its documents
(`PackageDocument`), each with the reference the export gave it. A new package is a module
with `split` and a Transport, and a line in `config.PACKAGES`.

`HttpTransport` maps HTTP to that: 2xx an answer; 400/409/422 the package's verdict on the
document; 401 credentials (a transport with OAuth refreshes its token once and asks again);
403/404 our configuration; 408, 425, 429, 5xx, timeouts and dropped connections transient,
with the wait the package asks for (Retry-After, in seconds or as a date). Whether a transient
failure may have left the document stored (`maybe_stored`) decides whether the next try asks
the package first.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import httpx
import msgspec

from .credentials import Credentials

log = logging.getLogger("tillpost.delivery")

_decode = msgspec.json.Decoder(float_hook=Decimal)  # amounts stay Decimal: never a float
_encode = msgspec.json.Encoder(decimal_format="number")


def loads(text: str | bytes):
    return _decode.decode(text if isinstance(text, bytes) else text.encode("utf-8"))


def dumps(obj) -> str:
    return _encode.encode(obj).decode("utf-8")


@dataclass(frozen=True)
class PackageDocument:
    """One document of an export as the package takes it."""

    reference: str
    kind: str  # what it is in the package: external_sales_invoice, SalesEntries, …
    date: str
    body: str  # the document as its export holds it, JSON (the posted body, or the request holding it)
    export: int = 0
    number: int = 0  # its number in the export


@dataclass(frozen=True)
class Answer:
    state: str  # accepted | rejected
    package_id: str | None = None
    number: str | None = None
    message: str | None = None


class Transient(Exception):
    """No answer that counts (busy, down, timed out): try again later."""

    def __init__(self, message: str, maybe_stored: bool, retry_after: float | None = None):
        super().__init__(message)
        self.maybe_stored = maybe_stored
        self.retry_after = retry_after


class Refused(Exception):
    """The package refuses us, not the document: credentials, administration, permissions."""


class Transport(Protocol):
    package: str

    def post(self, document: PackageDocument) -> Answer: ...

    def find(self, document: PackageDocument) -> Answer | None: ...

    def close(self) -> None: ...


def retry_after(response: httpx.Response, now: _dt.datetime | None = None) -> float | None:
    """The seconds a response asks us to wait (Retry-After: seconds or an HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def short(response: httpx.Response) -> str:
    return f"{response.status_code} {response.reason_phrase}".strip()


class HttpTransport:
    """The HTTP a package speaks: one httpx client, answers mapped as the module says."""

    package = ""
    title = ""

    def __init__(self, base_url: str, credentials: Credentials, timeout: float = 30.0,
                 client: httpx.Client | None = None):
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.http = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                                           follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    # -- to be given by a package ----------------------------------------------------------

    def headers(self) -> dict[str, str]:
        return {}

    def refresh(self) -> bool:
        """Get a new access token after a 401; False when the package has no such thing."""
        return False

    def wait_hint(self, response: httpx.Response) -> float | None:
        return retry_after(response)

    def error_message(self, response: httpx.Response) -> str:
        return response.text[:500]

    # -- one request -------------------------------------------------------------------------

    def request(self, method: str, url: str, **kw) -> httpx.Response:
        """Send one request; the response when it is the package's word (2xx, 400, 409, 422),
        else Transient or Refused. A POST that may have reached the package is `maybe_stored`."""
        refreshed = False
        extra = kw.pop("headers", {})
        while True:
            try:
                response = self.http.request(method, url, headers={**self.headers(), **extra}, **kw)
            except httpx.ConnectTimeout as e:
                raise Transient(f"no connection to {self.title} ({type(e).__name__})", maybe_stored=False) from None
            except httpx.ConnectError as e:
                raise Transient(f"no connection to {self.title}: {self._scrub(str(e))}", maybe_stored=False) from None
            except httpx.TimeoutException as e:
                raise Transient(f"no answer from {self.title} within the timeout ({type(e).__name__})",
                                maybe_stored=method == "POST") from None
            except httpx.TransportError as e:
                raise Transient(f"the connection to {self.title} broke off: {self._scrub(str(e)) or type(e).__name__}",
                                maybe_stored=method == "POST") from None
            status = response.status_code
            if status == 401 and not refreshed and self.refresh():
                refreshed = True
                continue
            if 200 <= status < 300 or status in (400, 409, 422):
                return response
            message = self._scrub(self.error_message(response))
            if status == 401:
                raise Refused(f"{self.title} refused the credentials ({short(response)}): {message}".rstrip(": "))
            if status in (403, 404):
                raise Refused(f"{self.title} answered {short(response)} to {method} {self._path(url)}: {message}"
                              .rstrip(": "))
            if status in (408, 425, 429) or status >= 500:
                busy = "busy" if status == 429 else "unavailable"
                raise Transient(f"{self.title} is {busy} ({short(response)})", maybe_stored=method == "POST" and
                                status >= 500, retry_after=self.wait_hint(response))
            raise Refused(f"{self.title} answered {short(response)} to {method} {self._path(url)}: {message}"
                          .rstrip(": "))

    def _path(self, url: str) -> str:
        return url[len(self.base_url):] if url.startswith(self.base_url) else url

    def _scrub(self, text: str) -> str:
        return self.credentials.scrub(text)

    def json(self, response: httpx.Response):
        try:
            return loads(response.content)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return None
