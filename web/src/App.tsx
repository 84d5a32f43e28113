// Signs in (password, second factor, or the single sign-on code in the URL), then
// draws the page of the current path.
import { useContext, useEffect, useState } from "preact/hooks";
import { exchangeSsoCode, errorText, get, hasSession, logout, refresh, whenSignedOut } from "./api";
import { Audit } from "./admin/Audit";
import { Mailboxes } from "./admin/Mailboxes";
import { Users } from "./admin/Users";
import { Compose } from "./compose/Compose";
import { Outbox } from "./compose/Outbox";
import { useLive } from "./live";
import { Conversation } from "./mail/Conversation";
import { MailList } from "./mail/MailList";
import { Login } from "./pages/Login";
import { AcceptInvitation, ResetPassword } from "./pages/Public";
import { navigate, useRoute } from "./router";
import { SearchPage } from "./search/SearchPage";
import { type ComposeStart, type Session, SessionContext, type Toast, canReadAudit, isAdmin, isReadOnly } from "./session";
import { NotFound, Shell } from "./Shell";
import { Toasts } from "./Toasts";
import type { Mailbox, Page, User } from "./types";

let toastIds = 0;

function Pages() {
  const { path, query } = useRoute();
  const session = useSessionOrNull();
  if (!session) return null;
  const { me } = session;
  let match: RegExpMatchArray | null;
  if (path === "/" || path === "/inbox") return <MailList />;
  if (path === "/trash") return <MailList trash />;
  if ((match = path.match(/^\/mailbox\/([^/]+)$/))) return <MailList mailboxId={match[1]} />;
  if ((match = path.match(/^\/thread\/([^/]+)$/))) return <Conversation threadId={match[1]} />;
  if (path === "/search") return <SearchPage query={query.get("q") || ""} mailboxId={query.get("mailbox_id")} />;
  if (path === "/outbox" && !isReadOnly(me)) return <Outbox />;
  if (path === "/admin/users" && isAdmin(me)) return <Users />;
  if (path === "/admin/mailboxes" && isAdmin(me)) return <Mailboxes />;
  if (path === "/audit" && canReadAudit(me)) return <Audit />;
  return <NotFound />;
}

function useSessionOrNull() {
  return useContext(SessionContext);
}

export function App() {
  const route = useRoute();
  const [me, setMe] = useState<User | null>(null);
  const [checking, setChecking] = useState(true);
  const [notice, setNotice] = useState("");
  const [mailboxes, setMailboxes] = useState<Mailbox[]>([]);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const [compose, setCompose] = useState<ComposeStart | null>(null);

  const toast = (t: Omit<Toast, "id">) => {
    const id = ++toastIds;
    setToasts((old) => [...old.slice(-3), { ...t, id }]);
    setTimeout(() => setToasts((old) => old.filter((x) => x.id !== id)), t.action ? 10_000 : 6_000);
  };
  const reloadMailboxes = async () => {
    try {
      setMailboxes((await get<Page<Mailbox>>("/api/v1/mailboxes")).items);
    } catch (e) {
      toast({ text: errorText(e), error: true });
    }
  };
  const signedIn = async () => {
    const user = await get<User>("/api/v1/users/me");
    await reloadMailboxes();
    setMe(user);
  };

  useEffect(() => {
    whenSignedOut(() => {
      setMe(null);
      setNotice("Your session ended: sign in again.");
    });
    const start = async () => {
      const sso = new URLSearchParams(location.hash.slice(1)).get("sso_code");
      try {
        if (sso) {
          history.replaceState(null, "", location.pathname + location.search);
          await exchangeSsoCode(sso);
          await signedIn();
        } else if (hasSession() && (await refresh())) {
          await signedIn();
        }
      } catch (e) {
        setNotice(errorText(e));
      } finally {
        setChecking(false);
      }
    };
    start();
  }, []);

  useLive(me !== null, () => {
    window.dispatchEvent(new Event("inboxhub:mail-changed"));
    reloadMailboxes();
  });

  if (route.path === "/reset-password") return <ResetPassword token={route.query.get("token") || ""} />;
  if (route.path === "/accept-invitation") return <AcceptInvitation token={route.query.get("token") || ""} />;
  if (checking) return <p class="muted loading" aria-busy="true">Loading…</p>;
  if (!me) return <Login notice={notice} onSignedIn={() => signedIn().catch((e) => setNotice(errorText(e)))} />;

  const session: Session = {
    me,
    mailboxes,
    reloadMailboxes,
    toast,
    openCompose: (start = { mode: "new" }) => setCompose(start),
    signOut: async () => {
      await logout();
      setMe(null);
      setNotice("");
      navigate("/", { replace: true });
    },
  };
  return (
    <SessionContext.Provider value={session}>
      <Shell>
        <Pages />
      </Shell>
      {compose && <Compose start={compose} onClose={() => setCompose(null)} />}
      <Toasts toasts={toasts} dismiss={(id) => setToasts((old) => old.filter((t) => t.id !== id))} />
    </SessionContext.Provider>
  );
}
