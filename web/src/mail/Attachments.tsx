// A message's attachments: image previews, PDF previews and downloads, each fetched
// with the bearer token into a blob: URL (the API needs the token; links could not).
import { useEffect, useState } from "preact/hooks";
import { blob, errorText, saveBlob } from "../api";
import { size } from "../format";
import { useSession } from "../session";
import type { Attachment } from "../types";

const path = (emailId: string, a: Attachment) =>
  `/api/v1/emails/${encodeURIComponent(emailId)}/attachments/${encodeURIComponent(a.id)}`;

function ImagePreview({ emailId, attachment }: { emailId: string; attachment: Attachment }) {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    let made: string | null = null;
    blob(path(emailId, attachment))
      .then((data) => setUrl((made = URL.createObjectURL(data))))
      .catch(() => setUrl(null));
    return () => {
      if (made) URL.revokeObjectURL(made);
    };
  }, [emailId, attachment.id]);
  return url ? <img class="preview" src={url} alt={`Preview of ${attachment.filename}`} /> : null;
}

function PdfPreview({ emailId, attachment }: { emailId: string; attachment: Attachment }) {
  const [url, setUrl] = useState<string | null>(null);
  const [open, setOpen] = useState(false);
  useEffect(() => () => void (url && URL.revokeObjectURL(url)), [url]);
  const show = async () => {
    if (!url) {
      const data = await blob(path(emailId, attachment));
      setUrl(URL.createObjectURL(new Blob([data], { type: "application/pdf" })));
    }
    setOpen(!open);
  };
  return (
    <>
      <button type="button" onClick={show} aria-expanded={open}>
        {open ? "Hide preview" : "Preview"}
      </button>
      {open && url && (
        <iframe class="pdf" src={url} title={`Preview of ${attachment.filename}`} />
      )}
    </>
  );
}

export function Attachments({ emailId, attachments }: { emailId: string; attachments: Attachment[] }) {
  const { toast } = useSession();
  const shown = attachments.filter((a) => !(a.inline && a.content_id));
  if (!shown.length) return null;
  const download = async (a: Attachment) => {
    try {
      saveBlob(await blob(path(emailId, a)), a.filename || "attachment");
    } catch (e) {
      toast({ text: `Download failed: ${errorText(e)}`, error: true });
    }
  };
  return (
    <section class="attachments" aria-label="Attachments">
      <h3>{shown.length === 1 ? "1 attachment" : `${shown.length} attachments`}</h3>
      <ul>
        {shown.map((a) => (
          <li key={a.id} class="attachment">
            {a.content_type.startsWith("image/") && <ImagePreview emailId={emailId} attachment={a} />}
            <span class="name">{a.filename || "(no name)"}</span>
            <span class="muted">
              {a.content_type}, {size(a.size)}
            </span>
            <div class="row">
              <button type="button" onClick={() => download(a)} aria-label={`Download ${a.filename}`}>
                Download
              </button>
              {a.content_type === "application/pdf" && <PdfPreview emailId={emailId} attachment={a} />}
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
