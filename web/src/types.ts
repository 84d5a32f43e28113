// Shapes of the public REST API (see /api/openapi.json).
export interface Address { name: string; email: string }
export interface Flags { seen: boolean; flagged: boolean }
export interface EmailItem {
  id: string; mailbox_id: string; message_id: string | null; subject: string;
  from: Address | null; to: Address[]; date: string | null; snippet: string;
  has_attachments: boolean; flags: Flags; labels: string[]; thread_id: string;
  mailbox_ids: string[]; duplicate_ids: string[];
}
export interface Attachment {
  id: string; filename: string; content_type: string; size: number; sha256: string;
  content_id: string | null; inline: boolean;
}
export interface EmailView extends EmailItem {
  cc: Address[]; bcc: Address[]; reply_to: Address[]; in_reply_to: string | null;
  references: string[]; text: string; html: string; headers: [string, string][];
  attachments: Attachment[]; parse_errors: string[]; size: number; received_at: string;
}
export interface SearchItem extends EmailItem { highlights: Record<string, string[]> }
export interface Page<T> { items: T[]; next_cursor: string | null }
export interface SearchResult extends Page<SearchItem> {
  total: number; total_exact: boolean; facets: Record<string, Record<string, number>> | null;
}
export interface ThreadSummary {
  thread_id: string; subject: string; participants: Address[]; message_count: number;
  unread_count: number; mailbox_ids: string[]; date: string; latest_id: string;
  snippet: string; has_attachments: boolean; flagged: boolean; labels: string[];
}
export interface ThreadMessage extends EmailItem { position: number; in_reply_to: string | null }
export interface ThreadView extends ThreadSummary { messages: ThreadMessage[] }
export interface SyncStatus {
  state: string; last_sync_at: string | null; last_error: string | null;
  last_error_at: string | null; messages_synced: number; worker: string | null;
}
export interface Mailbox {
  id: string; name: string; provider: string; status: string; created_at: string;
  total: number; unread: number; sync: SyncStatus;
}
export interface Label { name: string; total: number; unread: number }
export interface User { id: string; email: string; roles: string[]; status: string; created_at: string }
export interface TokenPair { access_token: string; refresh_token: string; expires_in: number }
export interface AuditRecord {
  seq: number; id: string; time: string; actor_id: string | null; action: string;
  object_id: string | null; outcome: string; request_id: string | null; ip: string | null;
  user_agent: string | null; detail: Record<string, unknown>;
}
export interface AuditPage { items: AuditRecord[]; next_cursor: number | null }
export interface Problem { title?: string; detail?: string; status?: number; [k: string]: unknown }
