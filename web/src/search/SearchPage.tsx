// Search results: highlighted matches, the total, and facets that narrow the query.
import { useEffect, useRef, useState } from "preact/hooks";
import { errorText, get } from "../api";
import { Highlight } from "../Highlight";
import { RowView, fromEmail, useListKeys } from "../mail/MailList";
import { listContext } from "../mail/listContext";
import { navigate } from "../router";
import { useSession } from "../session";
import type { SearchItem, SearchResult } from "../types";

function facetQuery(facet: string, value: string): string | null {
  if (facet === "sender_domain") return `from:${value}`;
  if (facet === "has_attachment") return value === "true" ? "has:attachment" : "-has:attachment";
  if (facet === "year") return `after:${Number(value) - 1}/12/31 before:${Number(value) + 1}/01/01`;
  return null;
}

const FACET_TITLES: Record<string, string> = {
  mailbox: "Mailbox", sender_domain: "Sender domain", has_attachment: "Attachments", year: "Year",
};

export function SearchPage({ query, mailboxId }: { query: string; mailboxId: string | null }) {
  const { mailboxes } = useSession();
  const [result, setResult] = useState<SearchResult | null>(null);
  const [items, setItems] = useState<SearchItem[]>([]);
  const [error, setError] = useState("");
  const [order, setOrder] = useState<"relevance" | "date">("relevance");
  const more = useRef<string | null>(null);

  const load = async (cursor: string | null) => {
    try {
      const page = await get<SearchResult>("/api/v1/search", {
        q: query, mailbox_id: mailboxId, order, facets: cursor === null, cursor, limit: 50,
      });
      more.current = page.next_cursor;
      if (cursor === null) {
        setResult(page);
        setItems(page.items);
      } else setItems((old) => [...old, ...page.items]);
      setError("");
    } catch (e) {
      setError(errorText(e));
      setResult(null);
      setItems([]);
    }
  };
  useEffect(() => {
    load(null);
  }, [query, mailboxId, order]);
  const rows = items.map(fromEmail);
  useEffect(() => {
    listContext.threadIds = rows.map((r) => r.threadId);
    listContext.back = location.pathname + location.search;
  }, [items]);
  const { selected } = useListKeys(rows, () => load(null));

  const narrow = (facet: string, value: string) => {
    if (facet === "mailbox") {
      navigate(`/search?q=${encodeURIComponent(query)}&mailbox_id=${encodeURIComponent(value)}`);
      return;
    }
    const extra = facetQuery(facet, value);
    if (extra) navigate(`/search?q=${encodeURIComponent(`${query} ${extra}`)}`);
  };
  const label = (facet: string, value: string) =>
    facet === "mailbox" ? mailboxes.find((m) => m.id === value)?.name || value
      : facet === "has_attachment" ? (value === "true" ? "with attachments" : "without") : value;

  return (
    <section class="list search-page" aria-labelledby="list-title">
      <h1 id="list-title">Search: {query}</h1>
      {error && <p class="error" role="alert">{error}</p>}
      {result && (
        <div class="search-bar row">
          <p role="status">
            {result.total_exact ? "" : "more than "}
            {result.total} {result.total === 1 ? "result" : "results"}
            {mailboxId && ` in ${label("mailbox", mailboxId)}`}
          </p>
          <label>
            Order{" "}
            <select value={order} onChange={(e) => setOrder(e.currentTarget.value as "relevance" | "date")}>
              <option value="relevance">best match</option>
              <option value="date">newest</option>
            </select>
          </label>
        </div>
      )}
      {result?.facets && (
        <nav class="facets" aria-label="Narrow the search">
          {Object.entries(result.facets).map(([facet, counts]) =>
            Object.keys(counts).length ? (
              <div key={facet} class="facet">
                <h2>{FACET_TITLES[facet] || facet}</h2>
                <ul>
                  {Object.entries(counts).map(([value, count]) => (
                    <li key={value}>
                      <button type="button" class="chip" onClick={() => narrow(facet, value)}>
                        {label(facet, value)} <span class="count">{count}</span>
                      </button>
                    </li>
                  ))}
                </ul>
              </div>
            ) : null,
          )}
        </nav>
      )}
      <ol class="rows" aria-label="Search results">
        {items.map((item, i) => {
          const subject = item.highlights.subject?.[0];
          const body = item.highlights.body?.[0] || item.highlights.attachments?.[0];
          const row = rows[i];
          return (
            <RowView key={item.id} row={{ ...row, subject: row.subject }} selected={i === selected}>
              {subject && (
                <span class="hl-subject">
                  <Highlight text={subject} />
                  {" — "}
                </span>
              )}
              {body ? <Highlight text={body} /> : item.snippet}
            </RowView>
          );
        })}
      </ol>
      {more.current && (
        <button type="button" onClick={() => load(more.current)}>
          More results
        </button>
      )}
    </section>
  );
}
