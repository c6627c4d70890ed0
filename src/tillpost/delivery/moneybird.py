"""Moneybird: the documents of the `moneybird` target, posted one by one to the API v2.

    POST {base}/{administration}/external_sales_invoices.json            {"external_sales_invoice": {…}}
    POST {base}/{administration}/documents/general_journal_documents.json {"general_journal_document": {…}}

(developer.moneybird.com: External sales invoices, Documents: General journal documents.)
Authentication is a bearer token (a personal API token, or an OAuth access token, which
Moneybird does not expire): a 401 is reported, never retried. The document's `reference`
is tillpost's; Moneybird's lists filter on period and contact, not on reference, so `find`
lists the document's day (`filter=period:YYYYMMDD..YYYYMMDD`, for an invoice also
`contact_id:…`) page by page and matches the reference exactly.
"""

from __future__ import annotations

import httpx

from .transport import Answer, HttpTransport, PackageDocument, Transient, dumps, loads

PATHS = {"external_sales_invoice": "external_sales_invoices", "general_journal_document":
         "documents/general_journal_documents"}
PER_PAGE = 100
MAX_PAGES = 50


def split(text: str) -> list[PackageDocument]:
    """The documents of an exported `moneybird` file, in the file's order."""
    doc = loads(text)
    out = []
    for group, kind in (("external_sales_invoices", "external_sales_invoice"),
                        ("general_journal_documents", "general_journal_document")):
        for item in doc.get(group, []):
            body = item[kind]
            out.append(PackageDocument(body["reference"], kind, body["date"], dumps(item)))
    return out


class MoneybirdTransport(HttpTransport):
    package = "moneybird"
    title = "Moneybird"

    def __init__(self, base_url: str, administration: str, credentials, timeout: float = 30.0, client=None):
        super().__init__(base_url, credentials, timeout, client)
        self.administration = administration

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credentials.require('token')}", "Accept": "application/json"}

    def url(self, kind: str) -> str:
        return f"{self.base_url}/{self.administration}/{PATHS[kind]}.json"

    def error_message(self, response: httpx.Response) -> str:
        data = self.json(response)
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            return "; ".join(f"{field} {', '.join(map(str, v)) if isinstance(v, list) else v}"
                             for field, v in error.items())
        if error:
            return str(error)
        return response.text[:500].strip() or response.reason_phrase

    def post(self, document: PackageDocument) -> Answer:
        response = self.request("POST", self.url(document.kind), content=document.body.encode("utf-8"),
                                headers={"Content-Type": "application/json"})
        if response.status_code == 409:  # a conflict may be the document itself, stored before
            return self.find(document) or Answer("rejected", message=self._scrub(self.error_message(response)))
        if response.status_code >= 400:
            return Answer("rejected", message=self._scrub(self.error_message(response)))
        data = self.json(response)
        if not isinstance(data, dict) or not data.get("id"):
            raise Transient(f"Moneybird answered {response.status_code} without the document's id", maybe_stored=True)
        return _accepted(data)

    def find(self, document: PackageDocument) -> Answer | None:
        body = loads(document.body)[document.kind]
        day = document.date.replace("-", "")
        terms = [f"period:{day}..{day}"]
        if document.kind == "external_sales_invoice" and body.get("contact_id"):
            terms.append(f"contact_id:{body['contact_id']}")
        for page in range(1, MAX_PAGES + 1):
            response = self.request("GET", self.url(document.kind),
                                    params={"filter": ",".join(terms), "page": page, "per_page": PER_PAGE})
            if response.status_code >= 400:
                raise Transient(f"Moneybird would not list its documents ({response.status_code}: "
                                f"{self._scrub(self.error_message(response))})", maybe_stored=False)
            items = self.json(response)
            if not isinstance(items, list):
                raise Transient("Moneybird's list was not a list", maybe_stored=False)
            for item in items:
                if isinstance(item, dict) and item.get("reference") == document.reference and item.get("id"):
                    return _accepted(item)
            if len(items) < PER_PAGE:
                return None
        raise Transient(f"more than {MAX_PAGES * PER_PAGE} Moneybird documents on {document.date}: cannot tell "
                        "whether it holds this one", maybe_stored=False)


def _accepted(data: dict) -> Answer:
    number = data.get("entry_number")
    return Answer("accepted", package_id=str(data["id"]), number=None if number is None else str(number))
