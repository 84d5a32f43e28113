// Tenant admins: mailbox connections, their sync state and errors; connecting an IMAP
// server by form, Gmail and Microsoft 365 through their consent screens.
import { useEffect, useState } from "preact/hooks";
import { errorText, get, send } from "../api";
import { longDate } from "../format";
import { useSession } from "../session";
import type { Mailbox } from "../types";
import { Members } from "./Members";
import { navigate, useRoute } from "../router";

const HERE = "/admin/mailboxes";

/** How the consent screen went: the API's callback sends the browser back here with
 * ?connected=<mailbox id> or ?error=<why>. Read once, then taken off the address. */
function useConsentOutcome(): { connected: string | null; error: string | null } {
  const route = useRoute();
  const [outcome] = useState(() => ({
    connected: route.query.get("connected"),
    error: route.query.get("error"),
  }));
  useEffect(() => {
    if (outcome.connected || outcome.error) navigate(HERE, { replace: true });
  }, [outcome]);
  return outcome;
}

function SyncState({ box }: { box: Mailbox }) {
  const s = box.sync;
  return (
    <div class="sync">
      <span class={`badge ${s.last_error ? "bad" : "ok"}`}>{s.state}</span>
      {s.last_sync_at && <span class="muted"> last sync {longDate(s.last_sync_at)}</span>}
      {s.last_error && (
        <p class="error">
          {s.last_error} <span class="muted">({longDate(s.last_error_at)})</span>
        </p>
      )}
    </div>
  );
}

function ImapForm({ onDone }: { onDone: () => void }) {
  const { toast } = useSession();
  const [form, setForm] = useState({ name: "", host: "", port: "993", security: "ssl", username: "", password: "" });
  const field = (key: keyof typeof form) => ({
    value: form[key],
    onInput: (e: Event) => setForm({ ...form, [key]: (e.currentTarget as HTMLInputElement).value }),
  });
  const submit = async (event: Event) => {
    event.preventDefault();
    try {
      await send("POST", "/api/v1/mailboxes", {
        name: form.name,
        provider: "imap",
        settings: {
          host: form.host, port: Number(form.port), security: form.security,
          username: form.username, password: form.password,
        },
      });
      toast({ text: `Connected ${form.name}; the first sync has started.` });
      onDone();
    } catch (e) {
      toast({ text: errorText(e), error: true });
    }
  };
  return (
    <form class="card" onSubmit={submit} aria-labelledby="imap-title">
      <h2 id="imap-title">Connect an IMAP mailbox</h2>
      <label>Name<input required {...field("name")} /></label>
      <label>Server<input required placeholder="imap.example.com" {...field("host")} /></label>
      <label>Port<input required inputMode="numeric" {...field("port")} /></label>
      <label>
        Security
        <select value={form.security} onChange={(e) => setForm({ ...form, security: e.currentTarget.value })}>
          <option value="ssl">TLS (993)</option>
          <option value="starttls">STARTTLS (143)</option>
          <option value="none">none (password in the clear)</option>
        </select>
      </label>
      <label>User name<input required autoComplete="off" {...field("username")} /></label>
      <label>Password<input required type="password" autoComplete="new-password" {...field("password")} /></label>
      <button type="submit" class="primary">Connect</button>
    </form>
  );
}

export function Mailboxes() {
  const { mailboxes, reloadMailboxes, toast } = useSession();
  const [consentName, setConsentName] = useState("");
  const [members, setMembers] = useState<Mailbox | null>(null);
  const outcome = useConsentOutcome();
  const connected = outcome.connected && mailboxes.find((m) => m.id === outcome.connected);
  const act = async (what: string, run: () => Promise<unknown>) => {
    try {
      await run();
      toast({ text: what });
      await reloadMailboxes();
    } catch (e) {
      toast({ text: errorText(e), error: true });
    }
  };
  const consent = async (provider: "gmail" | "graph") => {
    try {
      const start = await get<{ authorization_url: string }>(`/api/v1/mailboxes/oauth/${provider}/authorize`, {
        name: consentName,
        return_to: HERE,
      });
      location.assign(start.authorization_url);
    } catch (e) {
      toast({ text: errorText(e), error: true });
    }
  };
  return (
    <section class="page" aria-labelledby="mailboxes-title">
      <h1 id="mailboxes-title">Mailboxes</h1>
      {outcome.connected && (
        <p class="notice" role="status">
          Connected {connected ? connected.name : "the mailbox"}: its mail is being fetched.
        </p>
      )}
      {outcome.error && (
        <p class="error" role="alert">
          {outcome.error}
        </p>
      )}
      <div class="row">
        <button type="button" onClick={() => reloadMailboxes()}>Refresh</button>
      </div>
      <table class="table">
        <caption class="visually-hidden">Connected mailboxes and their sync state</caption>
        <thead>
          <tr><th scope="col">Name</th><th scope="col">Provider</th><th scope="col">Messages</th><th scope="col">Sync</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr>
        </thead>
        <tbody>
          {mailboxes.map((box) => (
            <tr key={box.id} data-mailbox={box.name}>
              <td>{box.name} {box.status !== "active" && <span class="badge">{box.status}</span>}</td>
              <td>{box.provider}</td>
              <td>{box.total} ({box.unread} unread)</td>
              <td><SyncState box={box} /></td>
              <td class="row">
                <button type="button" onClick={() => setMembers(box)}>Members</button>
                <button type="button" onClick={() => act(`Syncing ${box.name}.`, () => send("POST", `/api/v1/mailboxes/${box.id}/sync`))}>Sync now</button>
                <button type="button" onClick={() => act(`${box.name} ${box.status === "active" ? "paused" : "resumed"}.`, () => send("PATCH", `/api/v1/mailboxes/${box.id}`, { status: box.status === "active" ? "paused" : "active" }))}>
                  {box.status === "active" ? "Pause" : "Resume"}
                </button>
                <button type="button" class="danger" onClick={() => confirm(`Disconnect ${box.name} and delete its mail here?`) && act(`Removed ${box.name}.`, () => send("DELETE", `/api/v1/mailboxes/${box.id}`))}>Remove</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {members && <Members box={members} onClose={() => setMembers(null)} />}
      <section class="card" aria-labelledby="consent-title">
        <h2 id="consent-title">Connect Gmail or Microsoft 365</h2>
        <p class="muted">You sign in at Google or Microsoft and allow inboxhub to read the mailbox.</p>
        <label>Name (optional)<input value={consentName} onInput={(e) => setConsentName(e.currentTarget.value)} /></label>
        <div class="row">
          <button type="button" onClick={() => consent("gmail")}>Connect Gmail</button>
          <button type="button" onClick={() => consent("graph")}>Connect Microsoft 365</button>
        </div>
      </section>
      <ImapForm onDone={reloadMailboxes} />
    </section>
  );
}
