// The signed-in page: header (search, compose, help, account), the mailboxes on the
// side, and the current page.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { Help } from "./Help";
import { useShortcuts } from "./keys";
import { Link, navigate, useRoute } from "./router";
import { SearchBox } from "./search/SearchBox";
import { canReadAudit, isAdmin, isReadOnly, useSession } from "./session";

function NavLink({ href, children, label }: { href: string; children: ComponentChildren; label?: string }) {
  const route = useRoute();
  const here = route.path === href;
  return (
    <li>
      <Link href={href} aria-current={here ? "page" : undefined} aria-label={label}>
        {children}
      </Link>
    </li>
  );
}

export function Shell({ children }: { children: ComponentChildren }) {
  const { me, mailboxes, signOut, openCompose } = useSession();
  const [help, setHelp] = useState(false);
  const [menu, setMenu] = useState(false);
  const unread = mailboxes.reduce((sum, m) => sum + m.unread, 0);
  const header = useRef<HTMLElement>(null);
  const [headerHeight, setHeaderHeight] = useState(0);
  useEffect(() => {
    // The header wraps to two rows on a phone: the folded-out menu starts below it.
    const element = header.current;
    if (!element) return;
    const observer = new ResizeObserver(() => setHeaderHeight(element.getBoundingClientRect().height));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  useShortcuts({
    "/": () => window.dispatchEvent(new Event("inboxhub:focus-search")),
    c: () => !isReadOnly(me) && openCompose({ mode: "new" }),
    "?": () => setHelp(true),
    Escape: () => setHelp(false),
  });
  return (
    <div
      class={`shell${menu ? " menu-open" : ""}`}
      style={headerHeight ? { "--header-height": `${headerHeight}px` } : undefined}
    >
      <a class="skip" href="#main">Skip to the content</a>
      <header class="top" ref={header}>
        <button type="button" class="menu-button" aria-expanded={menu} aria-controls="sidebar" onClick={() => setMenu(!menu)}>
          ☰<span class="visually-hidden"> Mailboxes</span>
        </button>
        <Link href="/" class="brand">inboxhub</Link>
        <SearchBox />
        <div class="account row">
          {!isReadOnly(me) && (
            <button type="button" class="primary" onClick={() => openCompose({ mode: "new" })}>Compose</button>
          )}
          <button type="button" onClick={() => setHelp(true)} aria-label="Keyboard shortcuts (?)">?</button>
          <span class="muted me" title={me.roles.join(", ")}>{me.email}</span>
          <button type="button" onClick={() => signOut()}>Sign out</button>
        </div>
      </header>
      <nav id="sidebar" class="side" aria-label="Mailboxes" onClick={() => setMenu(false)}>
        <ul>
          <NavLink href="/" label={`All inboxes, ${unread} unread`}>
            All inboxes {unread > 0 && <span class="count">{unread}</span>}
          </NavLink>
          {mailboxes.map((m) => (
            <NavLink key={m.id} href={`/mailbox/${m.id}`} label={`${m.name}, ${m.unread} unread`}>
              {m.name} {m.unread > 0 && <span class="count">{m.unread}</span>}
              {m.sync.last_error && <span class="badge bad" title={m.sync.last_error}>!</span>}
            </NavLink>
          ))}
          <NavLink href="/trash">Trash</NavLink>
          {!isReadOnly(me) && <NavLink href="/outbox">Outbox</NavLink>}
        </ul>
        {(isAdmin(me) || canReadAudit(me)) && (
          <ul aria-label="Administration">
            {isAdmin(me) && <NavLink href="/admin/users">Users</NavLink>}
            {isAdmin(me) && <NavLink href="/admin/mailboxes">Mailboxes &amp; sync</NavLink>}
            {canReadAudit(me) && <NavLink href="/audit">Audit log</NavLink>}
          </ul>
        )}
      </nav>
      <main id="main" class="content" tabIndex={-1}>
        {children}
      </main>
      <Help open={help} onClose={() => setHelp(false)} />
    </div>
  );
}

export function NotFound() {
  return (
    <section class="page">
      <h1>Not found</h1>
      <p><button type="button" onClick={() => navigate("/")}>Back to the inbox</button></p>
    </section>
  );
}
