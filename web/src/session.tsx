// What every signed-in page needs: who is signed in, the mailboxes, and messages to show.
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Mailbox, User } from "./types";

export interface Toast {
  id: number;
  text: string;
  error?: boolean;
  action?: { label: string; run: () => void };
}

export interface Session {
  me: User;
  mailboxes: Mailbox[];
  reloadMailboxes: () => Promise<void>;
  toast: (toast: Omit<Toast, "id">) => void;
  signOut: () => Promise<void>;
  openCompose: (draft?: ComposeStart) => void;
}

export interface ComposeStart {
  mode: "new" | "reply" | "reply_all" | "forward";
  emailId?: string;
  mailboxId?: string;
  subject?: string;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("no session");
  return session;
}

export const isAdmin = (me: User) => me.roles.some((r) => r === "owner" || r === "admin");
export const canReadAudit = (me: User) => isAdmin(me) || me.roles.includes("auditor");
export const isReadOnly = (me: User) => me.roles.includes("auditor") && !isAdmin(me) && !me.roles.includes("member");
