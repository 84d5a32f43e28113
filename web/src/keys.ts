// Keyboard shortcuts of common mail clients. Pages register their handlers; keys typed
// into a form field are left alone.
import { useEffect, useRef } from "preact/hooks";

export type Handlers = Partial<Record<string, (event: KeyboardEvent) => void>>;

export const SHORTCUTS: [string, string][] = [
  ["j / k", "next / previous conversation (in a conversation: open the next / previous one)"],
  ["o or Enter", "open the selected conversation"],
  ["u", "back to the list"],
  ["/", "search"],
  ["c", "compose a new message"],
  ["r", "reply"],
  ["a", "reply to all"],
  ["f", "forward"],
  ["e", "move to the trash (Undo brings it back)"],
  ["s", "star / unstar"],
  ["?", "show this help"],
  ["Esc", "close a dialog or the help"],
];

function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

/** Calls handlers[event.key] for keys pressed outside form fields, while mounted. */
export function useShortcuts(handlers: Handlers): void {
  const latest = useRef(handlers);
  latest.current = handlers;
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
      if (document.querySelector("dialog[open]") && event.key !== "Escape") return;
      const handler = latest.current[event.key];
      if (handler) {
        event.preventDefault();
        handler(event);
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);
}
