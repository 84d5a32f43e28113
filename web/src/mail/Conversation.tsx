// A conversation: its messages oldest first, the latest and the unread ones open.
import { useEffect, useState } from "preact/hooks";
import { errorText, get, send } from "../api";
import { useShortcuts } from "../keys";
import { navigate } from "../router";
import { isReadOnly, useSession } from "../session";
import type { ThreadView } from "../types";
import { listContext, neighbour } from "./listContext";
import { Message } from "./Message";

export function Conversation({ threadId }: { threadId: string }) {
  const { toast, openCompose, me } = useSession();
  const [thread, setThread] = useState<ThreadView | null>(null);
  const [error, setError] = useState("");
  const [generation, setGeneration] = useState(0);
  const reload = () => setGeneration((g) => g + 1);

  useEffect(() => {
    get<ThreadView>(`/api/v1/threads/${threadId}`)
      .then((t) => {
        setThread(t);
        setError("");
      })
      .catch((e) => setError(errorText(e)));
  }, [threadId, generation]);

  useEffect(() => {
    document.getElementById("conversation-title")?.focus();
  }, [threadId]);

  const latest = thread?.messages[thread.messages.length - 1];
  const compose = (mode: "reply" | "reply_all" | "forward") =>
    latest && !isReadOnly(me) && openCompose({ mode, emailId: latest.id, mailboxId: latest.mailbox_id, subject: latest.subject });
  const go = (step: 1 | -1) => {
    const next = neighbour(threadId, step);
    if (next) navigate(`/thread/${next}`);
  };
  const trashAll = async () => {
    if (!thread || isReadOnly(me)) return;
    const ids = thread.messages.map((m) => m.id);
    try {
      await send("POST", "/api/v1/emails/trash", { ids });
      toast({
        text: "Conversation moved to the trash.",
        action: { label: "Undo", run: () => void send("POST", "/api/v1/emails/untrash", { ids }) },
      });
      navigate(listContext.back);
    } catch (e) {
      toast({ text: errorText(e), error: true });
    }
  };
  useShortcuts({
    j: () => go(1),
    k: () => go(-1),
    u: () => navigate(listContext.back),
    r: () => compose("reply"),
    a: () => compose("reply_all"),
    f: () => compose("forward"),
    e: trashAll,
    s: () =>
      latest &&
      send("PATCH", `/api/v1/emails/${latest.id}`, { flags: { flagged: !latest.flags.flagged } }).then(reload),
  });

  if (error) return <p class="error" role="alert">{error}</p>;
  if (!thread) return <p class="muted" aria-busy="true">Loading…</p>;
  return (
    <section class="conversation" aria-labelledby="conversation-title">
      <div class="row">
        <button type="button" onClick={() => navigate(listContext.back)} aria-label="Back to the list (u)">
          ← Back
        </button>
        {!isReadOnly(me) && (
          <button type="button" onClick={trashAll}>
            Trash conversation
          </button>
        )}
      </div>
      <h1 id="conversation-title" tabIndex={-1}>
        {thread.subject || "(no subject)"}
      </h1>
      <p class="muted">
        {thread.message_count === 1 ? "1 message" : `${thread.message_count} messages`}
        {thread.labels.length > 0 && ` · ${thread.labels.join(", ")}`}
      </p>
      {thread.messages.map((m, i) => (
        <Message
          key={m.id}
          item={m}
          expanded={i === thread.messages.length - 1 || !m.flags.seen}
          onChanged={reload}
        />
      ))}
    </section>
  );
}
