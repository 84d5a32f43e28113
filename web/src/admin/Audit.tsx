// Owners, admins and auditors: the audit trail with filters, and its export.
import { useEffect, useState } from "preact/hooks";
import { blob, errorText, get, saveBlob } from "../api";
import { useSession } from "../session";
import type { AuditPage, AuditRecord } from "../types";

interface Filters { actor: string; action: string; from: string; to: string }

/** A datetime-local value (the reader's time) as an ISO time with an offset. */
const iso = (local: string) => (local ? new Date(local).toISOString() : null);

export function Audit() {
  const { toast } = useSession();
  const [filters, setFilters] = useState<Filters>({ actor: "", action: "", from: "", to: "" });
  const [applied, setApplied] = useState(filters);
  const [items, setItems] = useState<AuditRecord[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState("");

  const query = (f: Filters) => ({ actor: f.actor.trim(), action: f.action.trim(), from: iso(f.from), to: iso(f.to) });
  const load = async (cursor: number | null) => {
    try {
      const page = await get<AuditPage>("/api/v1/audit", { ...query(applied), cursor, limit: 100 });
      setItems((old) => (cursor ? [...old, ...page.items] : page.items));
      setNext(page.next_cursor);
      setError("");
    } catch (e) {
      setError(errorText(e));
    }
  };
  useEffect(() => void load(null), [applied]);

  const exportAs = async (format: "csv" | "jsonl") => {
    try {
      const data = await blob("/api/v1/audit/export", { ...query(applied), format });
      saveBlob(data, `audit-${new Date().toISOString().slice(0, 10)}.${format}`);
    } catch (e) {
      toast({ text: `Export failed: ${errorText(e)}`, error: true });
    }
  };
  const input = (key: keyof Filters) => ({
    value: filters[key],
    onInput: (e: Event) => setFilters({ ...filters, [key]: (e.currentTarget as HTMLInputElement).value }),
  });
  return (
    <section class="page" aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <form class="filters row" onSubmit={(e) => { e.preventDefault(); setApplied(filters); }} aria-label="Filter the audit log">
        <label>Action<input type="text" placeholder="auth.login" {...input("action")} /></label>
        <label>Actor id<input type="text" {...input("actor")} /></label>
        <label>From<input type="datetime-local" {...input("from")} /></label>
        <label>Until<input type="datetime-local" {...input("to")} /></label>
        <button type="submit" class="primary">Filter</button>
        <button type="button" onClick={() => exportAs("csv")}>Export CSV</button>
        <button type="button" onClick={() => exportAs("jsonl")}>Export JSON lines</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      <div class="table-scroll">
        <table class="table audit">
          <caption class="visually-hidden">Audit records, newest first</caption>
          <thead>
            <tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Action</th><th scope="col">Outcome</th><th scope="col">Actor</th><th scope="col">Object</th><th scope="col">IP</th><th scope="col">Detail</th></tr>
          </thead>
          <tbody>
            {items.map((r) => (
              <tr key={r.id} data-action={r.action}>
                <td>{r.seq}</td>
                <td><time dateTime={r.time}>{new Date(r.time).toLocaleString()}</time></td>
                <td><code>{r.action}</code></td>
                <td class={r.outcome === "success" ? "" : "bad"}>{r.outcome}</td>
                <td class="mono">{r.actor_id}</td>
                <td class="mono">{r.object_id}</td>
                <td>{r.ip}</td>
                <td class="mono detail">{JSON.stringify(r.detail)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {items.length === 0 && !error && <p class="muted">No records match.</p>}
      {next && <button type="button" onClick={() => load(next)}>Older records</button>}
    </section>
  );
}
