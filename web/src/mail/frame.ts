// Builds the document a message's HTML is shown in. The API has sanitised the HTML
// already; this is the second wall. The document goes into <iframe sandbox srcdoc>
// (no allow-scripts, no allow-same-origin: no script runs, and the frame cannot reach
// the app), and its own CSP allows no script, no connection, no frame and, until the
// reader allows them, no remote image: those are also taken out of the markup, so no
// request leaves the browser (a tracking pixel learns nothing).

export interface FrameDocument {
  srcdoc: string;
  blockedImages: number;
}

const REMOTE = /^\s*(https?:)?\/\//i;

function policy(remoteImages: boolean): string {
  const images = remoteImages ? "data: https: http:" : "data:";
  return (
    `default-src 'none'; img-src ${images}; style-src 'unsafe-inline'; font-src data:; ` +
    "script-src 'none'; object-src 'none'; frame-src 'none'; form-action 'none'; base-uri 'none'"
  );
}

// Style attributes only: the app's CSP (inherited by the frame) allows no <style>.
const BODY_STYLE =
  "font:15px/1.5 system-ui,sans-serif;color:#1b1b1b;margin:0;padding:12px;overflow-wrap:anywhere";
const FIT = ";max-width:100%;height:auto";

function escapeAttribute(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
}

/**
 * The frame's document for sanitised `html`. `inline` maps a Content-ID to a data: URL
 * (inline images, fetched with the token); remote images stay out unless allowed.
 */
export function frameDocument(
  html: string,
  options: { remoteImages: boolean; inline: Map<string, string> },
): FrameDocument {
  // DOMParser builds an inert document: nothing in it runs or loads.
  const parsed = new DOMParser().parseFromString(html, "text/html");
  let blockedImages = 0;
  for (const image of Array.from(parsed.querySelectorAll("img"))) {
    image.setAttribute("style", (image.getAttribute("style") || "") + FIT);
    const src = image.getAttribute("src") || "";
    if (/^cid:/i.test(src)) {
      const data = options.inline.get(src.slice(4).replace(/^<|>$/g, ""));
      if (data) image.setAttribute("src", data);
      else image.removeAttribute("src");
    } else if (REMOTE.test(src)) {
      if (!options.remoteImages) {
        image.removeAttribute("src");
        image.removeAttribute("srcset");
        image.setAttribute("data-blocked", "remote image");
        blockedImages += 1;
      }
    } else if (!/^data:image\//i.test(src)) {
      image.removeAttribute("src"); // relative: it would point into the app
    }
  }
  for (const element of Array.from(parsed.querySelectorAll("[background]"))) {
    element.removeAttribute("background");
  }
  for (const link of Array.from(parsed.querySelectorAll("a[href]"))) {
    link.setAttribute("target", "_blank");
    link.setAttribute("rel", "noopener noreferrer");
  }
  const srcdoc =
    "<!doctype html><html><head><meta charset=\"utf-8\">" +
    `<meta http-equiv="Content-Security-Policy" content="${escapeAttribute(policy(options.remoteImages))}">` +
    '<meta name="referrer" content="no-referrer">' +
    `</head><body style="${BODY_STYLE}">${parsed.body.innerHTML}</body></html>`;
  return { srcdoc, blockedImages };
}

/** Sandbox tokens of the message frame: links open in a new tab, nothing else. */
export const SANDBOX = "allow-popups allow-popups-to-escape-sandbox";
