// Compose, reply, reply all, forward: a dialog that sends through the outbox and
// follows the message until it is sent or has failed.
import { useEffect, useRef, useState } from "preact/hooks";
import { errorText } from "../api";
import { size } from "../format";
import { type ComposeStart, useSession } from "../session";
import {
  type AttachmentRef, type Outgoing, discard, sendDraft, sendNew, splitAddresses, startAnswer, status, upload,
} from "./outgoing";

const DONE = new Set(["sent", "failed", "cancelled"]);
const TITLES = { new: "New message", reply: "Reply", reply_all: "Reply to all", forward: "Forward" };

function describe(m: Outgoing): string {
  if (m.state === "sent") return "Sent.";
  if (m.state === "failed") {
    const refused = Object.entries(m.rejected).map(([to, why]) => `${to}: ${why}`).join("; ");
    return `Not sent: ${refused || m.last_error || "the provider refused it"}`;
  }
  if (m.state === "queued" && m.attempts > 0) return `Waiting to try again (${m.last_error || "temporary failure"})…`;
  return m.state === "sending" ? "Sending…" : m.state === "scheduled" ? "Scheduled." : "Queued…";
}

export function Compose({ start, onClose }: { start: ComposeStart; onClose: () => void }) {
  const { mailboxes, toast } = useSession();
  const dialog = useRef<HTMLDialogElement>(null);
  const [draft, setDraft] = useState<Outgoing | null>(null);
  const [mailboxId, setMailboxId] = useState(start.mailboxId || mailboxes[0]?.id || "");
  const [to, setTo] = useState("");
  const [cc, setCc] = useState("");
  const [bcc, setBcc] = useState("");
  const [subject, setSubject] = useState("");
  const [text, setText] = useState("");
  const [attachments, setAttachments] = useState<AttachmentRef[]>([]);
  const [progress, setProgress] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(start.mode !== "new");

  useEffect(() => {
    if (!mailboxId && mailboxes.length) setMailboxId(mailboxes[0].id);
  }, [mailboxes]);
  useEffect(() => {
    dialog.current?.showModal();
    if (start.mode === "new" || !start.emailId) return;
    startAnswer(start.mode, start.emailId)
      .then((m) => {
        setDraft(m);
        setMailboxId(m.mailbox_id);
        setTo(m.to.join(", "));
        setCc(m.cc.join(", "));
        setSubject(m.subject);
        setAttachments(m.attachments);
      })
      .catch((e) => setError(errorText(e)))
      .finally(() => setBusy(false));
  }, []);

  const follow = async (m: Outgoing) => {
    let current = m;
    setProgress(describe(current));
    for (let i = 0; i < 300 && !DONE.has(current.state); i++) {
      await new Promise((r) => setTimeout(r, 1000));
      try {
        current = await status(current.id);
      } catch {
        continue;
      }
      setProgress(describe(current));
    }
    toast({ text: `${current.subject || "(no subject)"}: ${describe(current)}`, error: current.state === "failed" });
    if (current.state === "sent") {
      window.dispatchEvent(new Event("inboxhub:mail-changed"));
      onClose();
    }
  };
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError("");
    const fields = {
      to: splitAddresses(to), cc: splitAddresses(cc), bcc: splitAddresses(bcc), subject, text, attachments,
    };
    try {
      const m = draft ? await sendDraft(draft.id, fields) : await sendNew(mailboxId, fields);
      setDraft(m);
      await follow(m);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const attach = async (files: FileList | null) => {
    for (const file of Array.from(files || [])) {
      try {
        const ref = await upload(file);
        setAttachments((old) => [...old, ref]);
      } catch (e) {
        setError(`${file.name}: ${errorText(e)}`);
      }
    }
  };
  const close = async () => {
    if (draft && draft.state === "draft") await discard(draft.id).catch(() => {});
    onClose();
  };
  const quoted = draft?.quoted_text;
  return (
    <dialog ref={dialog} class="compose" aria-labelledby="compose-title" onCancel={(e) => { e.preventDefault(); close(); }}>
      <form onSubmit={submit}>
        <h2 id="compose-title">{TITLES[start.mode]}</h2>
        {error && <p class="error" role="alert">{error}</p>}
        {start.mode === "new" && (
          <label>
            From
            <select value={mailboxId} onChange={(e) => setMailboxId(e.currentTarget.value)}>
              {mailboxes.map((m) => <option key={m.id} value={m.id}>{m.name}</option>)}
            </select>
          </label>
        )}
        <label>To<input name="to" value={to} onInput={(e) => setTo(e.currentTarget.value)} required /></label>
        <label>Cc<input name="cc" value={cc} onInput={(e) => setCc(e.currentTarget.value)} /></label>
        <label>Bcc<input name="bcc" value={bcc} onInput={(e) => setBcc(e.currentTarget.value)} /></label>
        <label>Subject<input name="subject" value={subject} onInput={(e) => setSubject(e.currentTarget.value)} /></label>
        <label>
          Message
          <textarea name="text" rows={10} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        </label>
        {quoted && (
          <details>
            <summary>Quoted message</summary>
            <pre class="plain-body">{quoted}</pre>
          </details>
        )}
        <ul class="attached" aria-label="Attached files">
          {attachments.map((a, i) => (
            <li key={i}>
              {a.filename || "attachment"} {a.size ? `(${size(a.size)})` : ""}
              <button type="button" class="link" aria-label={`Remove ${a.filename}`}
                onClick={() => setAttachments(attachments.filter((_, j) => j !== i))}>×</button>
            </li>
          ))}
        </ul>
        <label>
          Attach files
          <input type="file" multiple onChange={(e) => attach(e.currentTarget.files)} />
        </label>
        {progress && <p role="status" class="notice">{progress}</p>}
        <div class="row">
          <button type="submit" class="primary" disabled={busy}>{busy ? "Working…" : "Send"}</button>
          <button type="button" onClick={close}>{draft && draft.state !== "draft" ? "Close" : "Discard"}</button>
        </div>
      </form>
    </dialog>
  );
}
