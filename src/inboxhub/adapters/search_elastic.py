"""Search on Elasticsearch 8 (the production adapter), over elasticsearch-py's async client.

One index, ``<prefix>-emails``, shared by every tenant, made at first use from an
index template (``put_index_template``, idempotent; a changed template applies to
indices made after it). New fields reach an index made before them by
``put_mapping`` at first use (``es_query.ADDED_FIELDS``: ``labels``, ``list_ids``,
``delivered_to``, ``cc``, ``bcc``, ``cc_address``, ``bcc_address``), so an old index
keeps working and its emails simply have no values until indexed again; any other
mapping or analysis change (the folding char filter came with ``cc:``) applies to a
new index, and an old one keeps its analysis until reindexed.

Tenancy (DESIGN §5): every write, get and search carries ``routing=<tenant_id>``, so
one tenant lives on one shard (exact facet counts, one shard per search), and every
query also filters ``term tenant_id`` (routing alone is never trusted: many tenants
share a shard). A document's ``_id`` is ``<tenant_id>/<email id>`` (tenant ids never
contain ``/``), so two tenants may hold the same email id. No alias per tenant: it
would add cluster state per tenant and guard nothing the mandatory filter does not.

Analysis mirrors the embedded adapter so that the same queries find the same
emails: text (in NFC) is split as FTS5's ``unicode61`` tokenizer splits it (white
space, punctuation, symbols, invisible format characters: ``char_group``), and folded
by the table both adapters share (``domain/folding.py``: ``asciifolding`` and a small
``mapping`` char filter for what it lacks, then ``lowercase``), so "resume" finds
"Résumé", "soren" "Søren" and "strasse" "Straße" on both. An address ``Zoë
<zoe@hr.example.net>`` is thus the words ``zoe hr example net``: found by the whole
address (a phrase), the local part, the domain or the display name; each exact
address is also a folded keyword (``from_address``, ``to_address``, ``cc_address``,
``bcc_address``) that ``from:zoe@hr.example.net`` and the like match exactly.

``index_many`` sends ``_bulk`` requests (at most ``chunk_docs`` documents and about
``chunk_bytes`` each, ``concurrency`` at a time) with ``refresh=wait_for`` by default,
so documents are searchable when it returns. Items that fail with a transient status
(429, 5xx) are sent again, alone, with exponential backoff, up to ``attempts`` times;
any other failure, or one still failing, raises ``BulkFailed``.

Pages: newest-first pages are keyset pages (``search_after`` on date and id), as deep
as wanted; relevance pages go by offset, as in the embedded adapter, and end at the
server's ``index.max_result_window`` (10,000 hits; see ``es_query.MAX_WINDOW``).

OpenSearch: elasticsearch-py 8 refuses to talk to non-Elastic servers, so
``opensearch://`` needs opensearch-py. Every request here is a plain body (``body=``)
that opensearch-py's ``AsyncOpenSearch`` accepts with the same method names, so that
client is slotted in as is; this path is untested (no OpenSearch server here).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from inboxhub.adapters import es_query
from inboxhub.adapters.url_options import flag, query_options
from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.models import SearchDocument, SearchHit, SearchPage
from inboxhub.domain.search_query import TOTAL_CAP, Node
from inboxhub.domain.tokens import BAD_CURSOR, decode_token, encode_token

Doc = dict[str, Any]

TRANSIENT = frozenset({429, 500, 502, 503, 504})
IDS_PER_REQUEST = 1000
TENANT_DELETE_TIMEOUT = 600.0  # seconds


class BulkFailed(RuntimeError):
    """Some documents were refused, or kept failing; ``failures`` says which and why."""

    def __init__(self, failures: list[Doc]) -> None:
        super().__init__(f"{len(failures)} bulk item(s) failed, first: {failures[0]}")
        self.failures = failures


def doc_key(tenant_id: str, email_id: str) -> str:
    if "/" in tenant_id:  # "a/b" + "c" and "a" + "b/c" would be one document
        raise InvalidInput(f"tenant id {tenant_id!r} contains '/'")
    return f"{tenant_id}/{email_id}"


def _line(data: Doc) -> bytes:
    # A lone surrogate (from a badly decoded message) cannot be sent as UTF-8.
    return json.dumps(data, ensure_ascii=False).encode("utf-8", "replace") + b"\n"


Operation = tuple[bytes, bytes | None]  # an action line, and a source line for "index"
Send = Callable[[bytes], Awaitable[Mapping[str, Any]]]


async def bulk_with_retry(
    send: Send,
    operations: Sequence[Operation],
    attempts: int = 4,
    backoff: float = 0.5,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> list[Doc]:
    """Send ``operations`` as one ``_bulk`` body; send again only the items that failed
    with a transient status, after ``backoff`` × 2ⁿ seconds, up to ``attempts`` sends
    in all. Returns each operation's result item, in order; raises ``BulkFailed``."""
    results: list[Doc] = [{} for _ in operations]
    pending = list(range(len(operations)))
    for attempt in range(attempts):
        if attempt:
            await sleep(backoff * 2 ** (attempt - 1))
        body = b"".join(line for i in pending for line in operations[i] if line is not None)
        response = await send(body)
        retry: list[int] = []
        refused: list[int] = []
        for i, item in zip(pending, response["items"], strict=True):
            (results[i],) = item.values()
            if "error" in results[i]:  # a delete of a missing document is no error
                (retry if results[i].get("status") in TRANSIENT else refused).append(i)
        if refused:
            raise BulkFailed([results[i] for i in [*refused, *retry]])
        if not retry:
            return results
        pending = retry
    raise BulkFailed([results[i] for i in pending])


def _encode_cursor(order: str, position: int | Sequence[Any]) -> str:
    return encode_token(
        {"o": order, "p": position if isinstance(position, int) else list(position)}
    )


def _decode_cursor(token: str, order: str) -> int | list[Any]:
    """Relevance pages: an offset; date pages: ``search_after`` (the last sort values)."""
    data = decode_token(token)
    try:
        position = data["p"]
        assert data["o"] == order
        if order == "relevance":
            assert isinstance(position, int) and position >= 0
            return position
        assert isinstance(position, list) and len(position) == len(es_query.DATE_SORT)
        assert all(isinstance(v, int | float | str) for v in position)
        return position
    except Exception as exc:
        raise InvalidInput(BAD_CURSOR) from exc


def _count_or_flag(text: str) -> bool | int:
    return int(text) if text.isdigit() else flag(text)


SCHEMES = {
    "elasticsearch": "http",
    "elasticsearchs": "https",
    "http": "http",
    "https": "https",
    "opensearch": "http",
    "opensearchs": "https",
}
CLIENT_SETTINGS: dict[str, Callable[[str], Any]] = {
    "username": str,
    "password": str,
    "api_key": str,
    "request_timeout": float,
    "verify_certs": flag,
    "ca_certs": str,
}
URL_SETTINGS: dict[str, Callable[[str], Any]] = {
    **CLIENT_SETTINGS,
    "index_prefix": str,
    "shards": int,
    "replicas": int,
    "refresh": str,
    "track_total_hits": _count_or_flag,
    "chunk_docs": int,
    "concurrency": int,
}


def parse_url(url: str, options: Mapping[str, Any]) -> tuple[str, list[str], dict[str, Any]]:
    """(scheme, host URLs, settings) of a search URL; keyword ``options`` win over
    the URL's query (those given as None excepted). Values are percent-decoded, but
    a ``+`` stays a ``+`` (API keys contain it)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    userinfo, _, netloc = parts.netloc.rpartition("@")
    if scheme not in SCHEMES or not netloc or parts.path not in ("", "/"):
        raise ValueError("a search URL looks like elasticsearch://host:9200?index_prefix=inboxhub")
    settings: dict[str, Any] = {}
    if userinfo:
        user, _, password = userinfo.partition(":")
        settings.update(username=unquote(user), password=unquote(password))
    settings.update(query_options(parts.query, URL_SETTINGS, "search URL"))
    settings.update({k: v for k, v in options.items() if v is not None})
    hosts = [
        f"{SCHEMES[scheme]}://{host}" + ("" if re.search(r":\d+$", host) else ":9200")
        for host in netloc.split(",")
    ]
    return scheme, hosts, settings


def make_client(
    scheme: str,
    hosts: list[str],
    username: str | None = None,
    password: str | None = None,
    api_key: str | None = None,
    request_timeout: float = 30.0,
    verify_certs: bool = True,
    ca_certs: str | None = None,
) -> Any:
    """An async client for ``hosts``: elasticsearch-py's, or opensearch-py's for
    ``opensearch://``. Bulk writes are upserts by id, so retrying after a timeout
    is safe."""
    tls: dict[str, Any] = {
        "verify_certs": verify_certs,
        **({"ca_certs": ca_certs} if ca_certs else {}),
    }
    if scheme.startswith("opensearch"):
        try:
            from opensearchpy import AsyncOpenSearch
        except ImportError:
            raise ValueError(
                "opensearch:// needs the OpenSearch client: install opensearch-py "
                "(elasticsearch-py 8 refuses servers other than Elasticsearch)"
            ) from None
        if api_key:
            raise ValueError("OpenSearch takes a username and password, not an api_key")
        login = {"http_auth": (username, password or "")} if username else {}
        return AsyncOpenSearch(
            hosts, timeout=request_timeout, max_retries=3, retry_on_timeout=True, **login, **tls
        )
    from elasticsearch import AsyncElasticsearch

    auth: dict[str, Any] = {}
    if api_key:
        auth["api_key"] = api_key
    elif username:
        auth["basic_auth"] = (username, password or "")
    return AsyncElasticsearch(
        hosts, request_timeout=request_timeout, max_retries=3, retry_on_timeout=True, **auth, **tls
    )


class ElasticSearchIndex:
    def __init__(
        self,
        client: Any,
        index_prefix: str = "inboxhub",
        shards: int = 1,
        replicas: int = 1,
        refresh: str = "wait_for",
        track_total_hits: bool | int = TOTAL_CAP,
        chunk_docs: int = 500,
        chunk_bytes: int = 10 * 1024 * 1024,
        concurrency: int = 2,
        attempts: int = 4,
        backoff: float = 0.5,
    ) -> None:
        if str(refresh).lower() not in ("wait_for", "true", "false"):
            raise ValueError(f"refresh must be wait_for, true or false, not {refresh!r}")
        self.client = client
        self.prefix = index_prefix
        self.index = f"{index_prefix}-emails"
        self.shards, self.replicas = int(shards), int(replicas)
        self.refresh = str(refresh).lower()
        self.track_total_hits = track_total_hits
        self.chunk_docs, self.chunk_bytes = int(chunk_docs), int(chunk_bytes)
        self.concurrency, self.attempts, self.backoff = int(concurrency), int(attempts), backoff
        self._ready = False
        self._lock = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> ElasticSearchIndex:
        """``elasticsearch://[user:password@]host:9200[,host2:9200]?index_prefix=…`` (or
        ``elasticsearchs://`` / ``https://`` for TLS, ``http://``, ``opensearch(s)://``).
        Query settings: ``index_prefix``, ``username``, ``password``, ``api_key``,
        ``shards``, ``replicas``, ``refresh`` (``wait_for``; ``true``; ``false``, for
        bulk loads that refresh the index themselves), ``track_total_hits`` (totals
        exact up to it: 10,000 by default, as ``search_query.TOTAL_CAP``),
        ``chunk_docs``, ``concurrency``, ``request_timeout``, ``verify_certs``,
        ``ca_certs``; keyword ``options`` win over the URL (and may be any
        ``__init__`` setting)."""
        scheme, hosts, settings = parse_url(url, options)
        client_settings = {k: settings.pop(k) for k in CLIENT_SETTINGS if k in settings}
        return cls(make_client(scheme, hosts, **client_settings), **settings)

    def __repr__(self) -> str:  # never the credentials
        return f"ElasticSearchIndex({self.index})"

    # -- the index

    async def _ensure_index(self) -> None:
        if self._ready:
            return
        async with self._lock:
            if self._ready:
                return
            template = es_query.index_template(self.index, self.shards, self.replicas)
            await self.client.indices.put_index_template(name=self.index, body=template)
            try:
                await self.client.indices.create(index=self.index)
            except Exception as exc:  # another process made it first: fine
                if "resource_already_exists_exception" not in str(exc):
                    raise
            # An index made before the latest fields: add them (a no-op otherwise).
            await self.client.indices.put_mapping(index=self.index, body=es_query.mapping_update())
            self._ready = True

    # -- writes

    async def _bulk(self, operations: Sequence[Operation]) -> list[Doc]:
        async def send(body: bytes) -> Mapping[str, Any]:
            return await self.client.bulk(body=body, refresh=self.refresh)

        return await bulk_with_retry(send, operations, self.attempts, self.backoff)

    def _chunks(self, operations: Sequence[Operation]) -> list[list[Operation]]:
        chunks: list[list[Operation]] = [[]]
        size = 0
        for op in operations:
            op_size = sum(len(line) for line in op if line)
            if chunks[-1] and (
                len(chunks[-1]) >= self.chunk_docs or size + op_size > self.chunk_bytes
            ):
                chunks.append([])
                size = 0
            chunks[-1].append(op)
            size += op_size
        return [c for c in chunks if c]

    async def _bulk_all(self, operations: Sequence[Operation]) -> list[Doc]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(chunk: list[Operation]) -> list[Doc]:
            async with gate:
                return await self._bulk(chunk)

        done = await asyncio.gather(*(one(c) for c in self._chunks(operations)))
        return [item for chunk in done for item in chunk]

    def _action(self, kind: str, tenant_id: str, email_id: str) -> bytes:
        meta = {"_index": self.index, "_id": doc_key(tenant_id, email_id), "routing": tenant_id}
        return _line({kind: meta})

    async def index_many(self, docs: Sequence[SearchDocument]) -> None:
        # The last version of each email wins (chunks are sent concurrently).
        latest = {(d.tenant_id, d.id): d for d in docs}
        if not latest:
            return
        await self._ensure_index()
        operations = [
            (self._action("index", d.tenant_id, d.id), _line(es_query.source(d)))
            for d in latest.values()
        ]
        await self._bulk_all(operations)

    async def delete_many(self, tenant_id: str, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        await self._ensure_index()
        unique = list(dict.fromkeys(ids))
        items = await self._bulk_all([(self._action("delete", tenant_id, i), None) for i in unique])
        return sum(1 for item in items if item.get("result") == "deleted")

    async def delete_tenant(self, tenant_id: str) -> int:
        await self._ensure_index()
        client = self.client
        if hasattr(client, "options"):  # elasticsearch-py: a big tenant takes a while
            client = client.options(request_timeout=TENANT_DELETE_TIMEOUT)
        response = await client.delete_by_query(
            index=self.index,
            body={"query": {"bool": {"filter": es_query.scope(tenant_id)}}},
            routing=tenant_id,
            refresh=self.refresh != "false",
            conflicts="proceed",
        )
        if response.get("failures"):
            raise BulkFailed(list(response["failures"]))
        return int(response["deleted"])

    # -- reads

    async def search(
        self,
        tenant_id: str,
        query: Node,
        mailbox_ids: Sequence[str],
        limit: int,
        cursor: str | None = None,
        order: str = "relevance",
        facets: bool = False,
    ) -> SearchPage:
        if not mailbox_ids:
            return SearchPage(hits=[], total=0)
        order = es_query.effective_order(query, order)
        position = _decode_cursor(cursor, order) if cursor else None
        offset = position if isinstance(position, int) else 0
        # Relevance pages go by offset, as in search_fts (see es_query.MAX_WINDOW);
        # date pages by search_after, so any depth can be listed.
        body = es_query.search_body(
            tenant_id,
            query,
            mailbox_ids,
            max(0, min(limit + 1, es_query.MAX_WINDOW - offset)),
            order,
            position if isinstance(position, list) else None,
            offset,
            facets,
            self.track_total_hits,
        )
        await self._ensure_index()
        response = await self.client.search(
            index=self.index,
            body=body,
            routing=tenant_id,
            # the same shard copy for every page, so that scores, hence offsets, agree
            preference=f"tenant-{tenant_id}",
        )
        found = response["hits"]["hits"]
        key_prefix = doc_key(tenant_id, "")
        hits = [
            SearchHit(
                id=h["_id"].removeprefix(key_prefix),
                score=float(h.get("_score") or 0.0),
                highlights=dict(h.get("highlight") or {}),
            )
            for h in found[:limit]
        ]
        next_cursor = None
        if len(found) > limit:
            after = offset + limit if order == "relevance" else found[limit - 1]["sort"]
            next_cursor = _encode_cursor(order, after)
        total = response["hits"]["total"]
        return SearchPage(
            hits=hits,
            total=int(total["value"]),
            total_exact=total.get("relation", "eq") == "eq",
            next_cursor=next_cursor,
            facets=es_query.read_facets(response.get("aggregations", {})) if facets else {},
        )

    async def count(self, tenant_id: str, mailbox_ids: Sequence[str] | None = None) -> int:
        if mailbox_ids is not None and not mailbox_ids:
            return 0
        await self._ensure_index()
        response = await self.client.count(
            index=self.index,
            body={"query": {"bool": {"filter": es_query.scope(tenant_id, mailbox_ids)}}},
            routing=tenant_id,
        )
        return int(response["count"])

    async def existing_ids(self, tenant_id: str, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        await self._ensure_index()
        found: set[str] = set()
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), IDS_PER_REQUEST):
            docs = [
                {"_id": doc_key(tenant_id, i), "routing": tenant_id, "_source": ["tenant_id"]}
                for i in unique[start : start + IDS_PER_REQUEST]
            ]
            response = await self.client.mget(index=self.index, body={"docs": docs})
            found.update(
                d["_id"].removeprefix(doc_key(tenant_id, ""))
                for d in response["docs"]
                if d.get("found") and d.get("_source", {}).get("tenant_id") == tenant_id
            )
        return found

    async def ping(self) -> None:
        await self.client.info()

    async def close(self) -> None:
        await self.client.close()
