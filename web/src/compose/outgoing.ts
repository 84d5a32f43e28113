// The sending API (docs/sending.md): drafts, the outbox, uploads.
import { call, get, send } from "../api";

export type State = "draft" | "queued" | "scheduled" | "sending" | "sent" | "failed" | "cancelled";

export interface AttachmentRef {
  upload_id?: string | null;
  email_id?: string | null;
  attachment_id?: string | null;
  filename?: string;
  size?: number;
}

export interface Outgoing {
  id: string;
  mailbox_id: string;
  state: State;
  mode: string;
  to: string[];
  cc: string[];
  bcc: string[];
  subject: string;
  text: string;
  quoted_text: string;
  attachments: AttachmentRef[];
  last_error: string | null;
  rejected: Record<string, string>;
  attempts: number;
  next_attempt_at: string | null;
}

export interface Fields {
  to: string[];
  cc: string[];
  bcc: string[];
  subject: string;
  text: string;
  attachments: AttachmentRef[];
}

export const refs = (list: AttachmentRef[]) =>
  list.map(({ upload_id, email_id, attachment_id }) =>
    upload_id ? { upload_id } : { email_id, attachment_id },
  );

export async function startAnswer(mode: string, emailId: string): Promise<Outgoing> {
  return (await send<Outgoing>("POST", "/api/v1/messages", { mode, original_email_id: emailId, draft: true }))!;
}

export async function sendNew(mailboxId: string, fields: Fields): Promise<Outgoing> {
  const body = { mailbox_id: mailboxId, mode: "new", ...fields, attachments: refs(fields.attachments) };
  return (await send<Outgoing>("POST", "/api/v1/messages", body))!;
}

export async function sendDraft(id: string, fields: Fields): Promise<Outgoing> {
  await send("PATCH", `/api/v1/messages/${id}`, { ...fields, attachments: refs(fields.attachments) });
  return (await send<Outgoing>("POST", `/api/v1/messages/${id}/send`))!;
}

export const discard = (id: string) => send("DELETE", `/api/v1/messages/${id}`);
export const status = (id: string) => get<Outgoing>(`/api/v1/messages/${id}`);

export async function upload(file: File): Promise<AttachmentRef> {
  const form = new FormData();
  form.append("file", file, file.name);
  const made = (await (await call("POST", "/api/v1/uploads", { body: form })).json()) as {
    id: string; filename: string; size: number;
  };
  return { upload_id: made.id, filename: made.filename, size: made.size };
}

export const splitAddresses = (text: string) =>
  text.split(/[,;\n]/).map((a) => a.trim()).filter(Boolean);
