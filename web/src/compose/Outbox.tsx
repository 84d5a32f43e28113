// The user's own outgoing mail: drafts, what is queued or being sent, what was sent,
// what failed and why (GET /api/v1/messages), with send-again and cancel.
import { useEffect, useState } from "preact/hooks";
import { errorText, get, send } from "../api";
import { longDate } from "../format";
import { useSession } from "../session";
import type { Outgoing } from "./outgoing";

type Row = Outgoing & { created_at: string; sent_at: string | null };

export function Outbox() {
  const { toast } = useSession();
  const [items, setItems] = useState<Row[]>([]);
  const [error, setError] = useState("");
  const load = () =>
    get<{ items: Row[] }>("/api/v1/messages", { limit: 100 })
      .then((page) => setItems(page.items))
      .catch((e) => setError(errorText(e)));
  useEffect(() => {
    load();
    const timer = setInterval(load, 5000);
    return () => clearInterval(timer);
  }, []);
  const act = async (what: string, run: () => Promise<unknown>) => {
    try {
      await run();
      toast({ text: what });
      load();
    } catch (e) {
      toast({ text: errorText(e), error: true });
    }
  };
  return (
    <section class="page" aria-labelledby="outbox-title">
      <h1 id="outbox-title">Outbox</h1>
      {error && <p class="error" role="alert">{error}</p>}
      <table class="table">
        <caption class="visually-hidden">Your outgoing messages, newest first</caption>
        <thead>
          <tr><th scope="col">Subject</th><th scope="col">To</th><th scope="col">State</th><th scope="col">When</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr>
        </thead>
        <tbody>
          {items.map((m) => (
            <tr key={m.id} data-state={m.state}>
              <td>{m.subject || "(no subject)"}</td>
              <td>{m.to.join(", ")}</td>
              <td>
                <span class={`badge ${m.state === "failed" ? "bad" : m.state === "sent" ? "ok" : ""}`}>{m.state}</span>
                {m.last_error && <p class="error">{m.last_error}</p>}
                {Object.entries(m.rejected).map(([to, why]) => <p key={to} class="error">{to}: {why}</p>)}
              </td>
              <td>{longDate(m.sent_at || m.created_at)}</td>
              <td class="row">
                {(m.state === "failed" || m.state === "draft") && (
                  <button type="button" onClick={() => act("Sending again.", () => send("POST", `/api/v1/messages/${m.id}/send`))}>
                    {m.state === "draft" ? "Send" : "Send again"}
                  </button>
                )}
                {["draft", "queued", "scheduled", "failed"].includes(m.state) && (
                  <button type="button" class="danger" onClick={() => act("Cancelled.", () => send("DELETE", `/api/v1/messages/${m.id}`))}>
                    {m.state === "draft" ? "Discard" : "Cancel"}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {items.length === 0 && !error && <p class="muted">Nothing sent yet.</p>}
    </section>
  );
}
