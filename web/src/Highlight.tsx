// Search highlights come as escaped text with <mark> around the matches: shown as
// text nodes and <mark> elements, never as HTML.
import { unescapeHtml } from "./format";

export function Highlight({ text }: { text: string }) {
  const parts = text.split(/<mark>(.*?)<\/mark>/s);
  return (
    <>
      {parts.map((part, i) => (i % 2 ? <mark key={i}>{unescapeHtml(part)}</mark> : unescapeHtml(part)))}
    </>
  );
}
