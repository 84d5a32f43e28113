// The search field: Gmail's query language, with the operators suggested as one types
// (an ARIA combobox: arrows choose, Enter or Tab completes, Escape closes).
import { useEffect, useRef, useState } from "preact/hooks";
import { navigate, useRoute } from "../router";
import { useSession } from "../session";

const OPERATORS: [string, string][] = [
  ["from:", "sender"], ["to:", "recipient"], ["cc:", "copied"], ["bcc:", "blind copied"],
  ["subject:", "words in the subject"], ["has:attachment", "with attachments"],
  ["filename:", "attachment name or type (pdf)"], ["is:unread", "not read yet"],
  ["is:read", "read"], ["is:starred", "starred"], ["in:trash", "in the trash"],
  ["in:anywhere", "everywhere, the trash too"], ["label:", "label or folder"],
  ["before:", "before a date (2024/01/31)"], ["after:", "after a date"],
  ["older_than:", "older than (7d, 2m, 1y)"], ["newer_than:", "newer than"],
  ["larger:", "bigger than (5M)"], ["smaller:", "smaller than (100K)"],
  ["list:", "mailing list"], ["deliveredto:", "delivered to"], ["rfc822msgid:", "Message-ID"],
  ["OR", "either word"], ['"', "exact phrase"],
];

export function suggestionsFor(query: string, mailboxNames: string[]): [string, string][] {
  const token = query.split(/\s+/).pop() || "";
  if (!token) return [];
  const lower = token.toLowerCase().replace(/^-/, "");
  const boxes = mailboxNames.map((n): [string, string] => [`in:${/\s/.test(n) ? `"${n}"` : n}`, `mailbox ${n}`]);
  return [...OPERATORS, ...boxes]
    .filter(([op]) => op.toLowerCase().startsWith(lower) && op.toLowerCase() !== lower)
    .slice(0, 8);
}

export function SearchBox() {
  const route = useRoute();
  const { mailboxes } = useSession();
  const [query, setQuery] = useState(route.path === "/search" ? route.query.get("q") || "" : "");
  const [active, setActive] = useState(-1);
  const [open, setOpen] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const suggestions = open ? suggestionsFor(query, mailboxes.map((m) => m.name)) : [];

  useEffect(() => {
    if (route.path === "/search") setQuery(route.query.get("q") || "");
  }, [route.path, route.query.get("q")]);

  useEffect(() => {
    const focus = () => input.current?.focus();
    window.addEventListener("inboxhub:focus-search", focus);
    return () => window.removeEventListener("inboxhub:focus-search", focus);
  }, []);

  const complete = (operator: string) => {
    const words = query.split(/(\s+)/);
    const last = words.pop() || "";
    const negated = last.startsWith("-") ? "-" : "";
    setQuery(words.join("") + negated + operator + (operator.endsWith(":") || operator === '"' ? "" : " "));
    setActive(-1);
    input.current?.focus();
  };
  const submit = (event: Event) => {
    event.preventDefault();
    setOpen(false);
    if (query.trim()) navigate(`/search?q=${encodeURIComponent(query.trim())}`);
  };
  const onKeyDown = (event: KeyboardEvent) => {
    if (event.key === "Escape") {
      if (open && suggestions.length) setOpen(false);
      else input.current?.blur();
      return;
    }
    if (!suggestions.length) return;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      setActive((i) => (i + 1) % suggestions.length);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      setActive((i) => (i <= 0 ? suggestions.length - 1 : i - 1));
    } else if ((event.key === "Enter" || event.key === "Tab") && active >= 0) {
      event.preventDefault();
      complete(suggestions[active][0]);
    }
  };
  return (
    <form role="search" class="search" onSubmit={submit}>
      <label for="search-input" class="visually-hidden">
        Search mail
      </label>
      <input
        id="search-input"
        ref={input}
        type="text"
        enterKeyHint="search"
        placeholder="Search mail (/)"
        autoComplete="off"
        role="combobox"
        aria-autocomplete="list"
        aria-expanded={suggestions.length > 0}
        aria-controls="search-suggestions"
        aria-activedescendant={active >= 0 ? `suggestion-${active}` : undefined}
        value={query}
        onInput={(e) => {
          setQuery(e.currentTarget.value);
          setOpen(true);
          setActive(-1);
        }}
        onKeyDown={onKeyDown}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
      />
      <ul id="search-suggestions" role="listbox" aria-label="Search operators" hidden={!suggestions.length}>
        {suggestions.map(([op, hint], i) => (
          <li
            key={op}
            id={`suggestion-${i}`}
            role="option"
            aria-selected={i === active}
            onMouseDown={(e) => {
              e.preventDefault();
              complete(op);
            }}
          >
            <code>{op}</code> <span class="muted">{hint}</span>
          </li>
        ))}
      </ul>
      <button type="submit" class="primary">Search</button>
    </form>
  );
}
