// New mail without reloading: the notification service's WebSocket (/api/v1/ws,
// docs/notifications.md). The token goes in the first message (a browser cannot set
// headers on a WebSocket) and again before it expires; after a drop the socket comes
// back with the last cursor, so nothing is missed.
import { useEffect, useRef } from "preact/hooks";
import { currentToken } from "./api";

const CHANGES = new Set(["email.processed", "email.updated", "email.sent", "mailbox.status"]);
const REAUTH_MS = 5 * 60_000;

interface ServerMessage {
  type: string;
  cursor?: string;
  event?: { type: string };
}

export function useLive(enabled: boolean, onChange: () => void): void {
  const latest = useRef(onChange);
  latest.current = onChange;
  useEffect(() => {
    if (!enabled || typeof WebSocket === "undefined") return;
    let socket: WebSocket | null = null;
    let cursor: string | undefined;
    let stopped = false;
    let retry = 1000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let reauth: ReturnType<typeof setInterval> | undefined;
    let debounce: ReturnType<typeof setTimeout> | undefined;
    const changed = () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => latest.current(), 300);
    };
    const connect = async () => {
      const token = await currentToken();
      if (stopped || !token) return;
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = (socket = new WebSocket(`${scheme}//${location.host}/api/v1/ws`));
      ws.onopen = () => {
        ws.send(JSON.stringify({ type: "auth", token, ...(cursor ? { cursor } : {}) }));
        reauth = setInterval(async () => {
          const fresh = await currentToken();
          if (fresh && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "auth", token: fresh }));
        }, REAUTH_MS);
      };
      ws.onmessage = (message) => {
        let data: ServerMessage;
        try {
          data = JSON.parse(String(message.data));
        } catch {
          return;
        }
        if (data.cursor) cursor = data.cursor;
        if (data.type === "ready") retry = 1000;
        if (data.type === "reset" || (data.type === "event" && data.event && CHANGES.has(data.event.type))) {
          changed();
        }
      };
      ws.onclose = () => {
        clearInterval(reauth);
        if (stopped) return;
        timer = setTimeout(connect, retry);
        retry = Math.min(retry * 2, 30_000);
      };
    };
    connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(debounce);
      clearInterval(reauth);
      socket?.close();
    };
  }, [enabled]);
}
