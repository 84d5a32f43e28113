// One message of a conversation: headers, actions, the body in a sandboxed frame (or
// as plain text), attachments.
import { useEffect, useMemo, useState } from "preact/hooks";
import { blob, errorText, get, saveBlob, send } from "../api";
import { addresses, longDate, who } from "../format";
import { isReadOnly, useSession } from "../session";
import type { EmailItem, EmailView } from "../types";
import { Attachments } from "./Attachments";
import { frameDocument, SANDBOX } from "./frame";

async function dataUrl(data: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(data);
  });
}

async function inlineImages(email: EmailView): Promise<Map<string, string>> {
  const inline = new Map<string, string>();
  for (const a of email.attachments) {
    if (!a.content_id || !a.content_type.startsWith("image/")) continue;
    try {
      const data = await blob(`/api/v1/emails/${email.id}/attachments/${encodeURIComponent(a.id)}`);
      inline.set(a.content_id.replace(/^<|>$/g, ""), await dataUrl(data));
    } catch {
      /* shown without it */
    }
  }
  return inline;
}

function Body({ email }: { email: EmailView }) {
  const [remoteImages, setRemoteImages] = useState(false);
  const [inline, setInline] = useState(new Map<string, string>());
  useEffect(() => {
    inlineImages(email).then(setInline);
  }, [email.id]);
  const frame = useMemo(
    () => (email.html ? frameDocument(email.html, { remoteImages, inline }) : null),
    [email.html, remoteImages, inline],
  );
  if (!frame) {
    return <pre class="plain-body">{email.text || "(this message has no text)"}</pre>;
  }
  return (
    <>
      {frame.blockedImages > 0 && (
        <p class="notice" role="status">
          {frame.blockedImages === 1 ? "1 remote image is" : `${frame.blockedImages} remote images are`} hidden
          to protect your privacy.{" "}
          <button type="button" class="link" onClick={() => setRemoteImages(true)}>
            Show images
          </button>
        </p>
      )}
      <iframe
        class="message-frame"
        title={`Message: ${email.subject || "(no subject)"}`}
        sandbox={SANDBOX}
        referrerpolicy="no-referrer"
        srcdoc={frame.srcdoc}
      />
    </>
  );
}

export function Message({
  item,
  expanded: startExpanded,
  onChanged,
}: {
  item: EmailItem;
  expanded: boolean;
  onChanged: () => void;
}) {
  const session = useSession();
  const { me, toast, openCompose } = session;
  const [expanded, setExpanded] = useState(startExpanded);
  const [email, setEmail] = useState<EmailView | null>(null);
  const [error, setError] = useState("");
  const readOnly = isReadOnly(me);

  useEffect(() => {
    if (!expanded || email) return;
    get<EmailView>(`/api/v1/emails/${item.id}`)
      .then((view) => {
        setEmail(view);
        if (!view.flags.seen && !readOnly) {
          send("PATCH", `/api/v1/emails/${item.id}`, { flags: { seen: true } }).catch(() => {});
        }
      })
      .catch((e) => setError(errorText(e)));
  }, [expanded, item.id]);

  const act = async (what: string, run: () => Promise<unknown>) => {
    try {
      await run();
      onChanged();
    } catch (e) {
      toast({ text: `${what} failed: ${errorText(e)}`, error: true });
    }
  };
  const flag = (flags: Record<string, boolean>) =>
    act("Changing the flags", () => send("PATCH", `/api/v1/emails/${item.id}`, { flags }));
  const trash = () =>
    act("Moving to the trash", async () => {
      await send("POST", `/api/v1/emails/${item.id}/trash`);
      toast({
        text: "Moved to the trash.",
        action: { label: "Undo", run: () => act("Undo", () => send("POST", `/api/v1/emails/${item.id}/untrash`)) },
      });
    });
  const raw = async () => {
    try {
      saveBlob(await blob(`/api/v1/emails/${item.id}/raw`), `${(item.subject || "message").slice(0, 60)}.eml`);
    } catch (e) {
      toast({ text: `Download failed: ${errorText(e)}`, error: true });
    }
  };

  if (!expanded) {
    return (
      <article class={`message collapsed${item.flags.seen ? "" : " unread"}`}>
        <button type="button" class="message-toggle" onClick={() => setExpanded(true)} aria-expanded="false">
          <strong>{who(item.from)}</strong>
          <span class="snippet">{item.snippet}</span>
          <time dateTime={item.date || ""}>{longDate(item.date)}</time>
        </button>
      </article>
    );
  }
  const compose = (mode: "reply" | "reply_all" | "forward") =>
    openCompose({ mode, emailId: item.id, mailboxId: item.mailbox_id, subject: item.subject });
  return (
    <article class="message" aria-label={`Message from ${who(item.from)}`} data-email-id={item.id}>
      <header class="message-head">
        <button type="button" class="message-toggle" onClick={() => setExpanded(false)} aria-expanded="true">
          <strong>{who(item.from)}</strong> <span class="muted">{item.from?.email}</span>
          <time dateTime={item.date || ""}>{longDate(item.date)}</time>
        </button>
        {email && (
          <dl class="recipients">
            <dt>To</dt>
            <dd>{addresses(email.to) || "—"}</dd>
            {email.cc.length > 0 && (
              <>
                <dt>Cc</dt>
                <dd>{addresses(email.cc)}</dd>
              </>
            )}
          </dl>
        )}
        <div class="toolbar" role="toolbar" aria-label="Message actions">
          {!readOnly && (
            <>
              <button type="button" onClick={() => compose("reply")} data-action="reply">Reply</button>
              <button type="button" onClick={() => compose("reply_all")} data-action="reply_all">Reply all</button>
              <button type="button" onClick={() => compose("forward")} data-action="forward">Forward</button>
              <button type="button" onClick={() => flag({ flagged: !item.flags.flagged })} aria-pressed={item.flags.flagged}>
                {item.flags.flagged ? "Unstar" : "Star"}
              </button>
              <button type="button" onClick={() => flag({ seen: false })}>Mark unread</button>
              <button type="button" onClick={trash}>Trash</button>
            </>
          )}
          <button type="button" onClick={raw}>Download .eml</button>
        </div>
      </header>
      {error && <p class="error" role="alert">{error}</p>}
      {email ? (
        <>
          <Body email={email} />
          <Attachments emailId={email.id} attachments={email.attachments} />
          {email.parse_errors.length > 0 && (
            <p class="muted">This message could not be read completely: {email.parse_errors.join("; ")}</p>
          )}
        </>
      ) : (
        !error && <p class="muted" aria-busy="true">Loading…</p>
      )}
    </article>
  );
}
