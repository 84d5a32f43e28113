// Conversations, newest first, across all the user's mailboxes or one; pages load as
// the list scrolls. j/k move the selection, o/Enter open it.
import { useEffect, useRef, useState } from "preact/hooks";
import { errorText, get, send } from "../api";
import { shortDate, who } from "../format";
import { useShortcuts } from "../keys";
import { navigate } from "../router";
import { isReadOnly, useSession } from "../session";
import type { EmailItem, Page, ThreadSummary } from "../types";
import { listContext } from "./listContext";

export interface Row {
  key: string;
  threadId: string;
  emailIds: string[];
  subject: string;
  people: string;
  count: number;
  unread: boolean;
  flagged: boolean;
  attachments: boolean;
  date: string | null;
  snippet: string;
}

const fromThread = (t: ThreadSummary): Row => ({
  key: t.thread_id,
  threadId: t.thread_id,
  emailIds: [t.latest_id],
  subject: t.subject,
  people: t.participants.map((p) => p.name || p.email).join(", "),
  count: t.message_count,
  unread: t.unread_count > 0,
  flagged: t.flagged,
  attachments: t.has_attachments,
  date: t.date,
  snippet: t.snippet,
});

export const fromEmail = (e: EmailItem): Row => ({
  key: e.id,
  threadId: e.thread_id,
  emailIds: [e.id],
  subject: e.subject,
  people: who(e.from),
  count: 1,
  unread: !e.flags.seen,
  flagged: e.flags.flagged,
  attachments: e.has_attachments,
  date: e.date,
  snippet: e.snippet,
});

function Paperclip() {
  return (
    <svg class="clip" viewBox="0 0 16 16" width="14" height="14" role="img" aria-label="has attachments">
      <path d="M11 4.5v6a3 3 0 0 1-6 0V4a2 2 0 0 1 4 0v6a1 1 0 0 1-2 0V5" fill="none" stroke="currentColor" stroke-width="1.3" />
    </svg>
  );
}

export function RowView({ row, selected, children }: { row: Row; selected: boolean; children?: preact.ComponentChildren }) {
  const href = `/thread/${row.threadId}`;
  return (
    <li class={`row-item${row.unread ? " unread" : ""}${selected ? " selected" : ""}`} aria-current={selected ? "true" : undefined}>
      <a
        href={href}
        onClick={(e) => {
          if (e.button !== 0 || e.metaKey || e.ctrlKey) return;
          e.preventDefault();
          navigate(href);
        }}
      >
        <span class="people">
          {row.flagged && <span class="star" aria-label="starred">★ </span>}
          {row.people || "(nobody)"}
          {row.count > 1 && <span class="count"> ({row.count})</span>}
        </span>
        <span class="subject">
          {row.unread && <span class="visually-hidden">Unread: </span>}
          {row.subject || "(no subject)"}
        </span>
        <span class="snippet">{children ?? row.snippet}</span>
        <span class="meta">
          {row.attachments && <Paperclip />}
          <time dateTime={row.date || ""}>{shortDate(row.date)}</time>
        </span>
      </a>
    </li>
  );
}

/** Keeps the selected row in view and lets j/k/o/e act on it. */
export function useListKeys(rows: Row[], reload: () => void) {
  const [selected, setSelected] = useState(0);
  const { toast, me } = useSession();
  useEffect(() => {
    document.querySelector("li.row-item.selected")?.scrollIntoView({ block: "nearest" });
  }, [selected]);
  const current = rows[selected];
  useShortcuts({
    j: () => setSelected((i) => Math.min(i + 1, rows.length - 1)),
    k: () => setSelected((i) => Math.max(i - 1, 0)),
    o: () => current && navigate(`/thread/${current.threadId}`),
    Enter: () => current && navigate(`/thread/${current.threadId}`),
    e: async () => {
      if (!current || isReadOnly(me)) return;
      try {
        const thread = await get<{ messages: EmailItem[] }>(`/api/v1/threads/${current.threadId}`);
        const ids = thread.messages.map((m) => m.id);
        await send("POST", "/api/v1/emails/trash", { ids });
        toast({
          text: "Conversation moved to the trash.",
          action: { label: "Undo", run: () => send("POST", "/api/v1/emails/untrash", { ids }).then(reload) },
        });
        reload();
      } catch (err) {
        toast({ text: errorText(err), error: true });
      }
    },
  });
  return { selected, setSelected };
}

export function MailList({ mailboxId, trash }: { mailboxId?: string; trash?: boolean }) {
  const { mailboxes } = useSession();
  const [rows, setRows] = useState<Row[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState("");
  const [generation, setGeneration] = useState(0);
  const sentinel = useRef<HTMLLIElement>(null);
  const reload = () => setGeneration((g) => g + 1);

  const load = async (from: string | null, replace: boolean) => {
    setLoading(true);
    try {
      const query = { mailbox_id: mailboxId, cursor: from, limit: 50 };
      let page: { rows: Row[]; next: string | null };
      if (trash) {
        const p = await get<Page<EmailItem>>("/api/v1/emails", { ...query, in: "trash" });
        page = { rows: p.items.map(fromEmail), next: p.next_cursor };
      } else {
        const p = await get<Page<ThreadSummary>>("/api/v1/threads", query);
        page = { rows: p.items.map(fromThread), next: p.next_cursor };
      }
      setRows((old) => (replace ? page.rows : [...old, ...page.rows]));
      setCursor(page.next);
      setDone(page.next === null);
      setError("");
    } catch (e) {
      setError(errorText(e));
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    setDone(false);
    load(null, true);
  }, [mailboxId, trash, generation]);

  useEffect(() => {
    const onNew = () => reload();
    window.addEventListener("inboxhub:mail-changed", onNew);
    return () => window.removeEventListener("inboxhub:mail-changed", onNew);
  }, []);

  useEffect(() => {
    listContext.threadIds = rows.map((r) => r.threadId);
    listContext.back = location.pathname + location.search;
  }, [rows]);

  useEffect(() => {
    const element = sentinel.current;
    if (!element || done) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && !loading && cursor) load(cursor, false);
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, [cursor, done, loading]);

  const { selected } = useListKeys(rows, reload);
  const box = mailboxes.find((m) => m.id === mailboxId);
  const title = trash ? "Trash" : box ? box.name : "All inboxes";
  return (
    <section class="list" aria-labelledby="list-title">
      <h1 id="list-title">{title}</h1>
      {error && <p class="error" role="alert">{error}</p>}
      <ol class="rows" aria-label={trash ? "Messages in the trash" : "Conversations"} aria-busy={loading}>
        {rows.map((row, i) => (
          <RowView key={row.key} row={row} selected={i === selected} />
        ))}
        {!done && <li ref={sentinel} class="sentinel muted">{loading ? "Loading…" : ""}</li>}
      </ol>
      {done && rows.length === 0 && <p class="muted">Nothing here.</p>}
      {done && rows.length > 0 && <p class="muted end">That is everything ({rows.length}).</p>}
    </section>
  );
}
