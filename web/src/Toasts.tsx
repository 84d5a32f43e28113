import type { Toast } from "./session";

export function Toasts({ toasts, dismiss }: { toasts: Toast[]; dismiss: (id: number) => void }) {
  return (
    <div class="toasts" role="status" aria-live="polite">
      {toasts.map((t) => (
        <div key={t.id} class={`toast${t.error ? " error" : ""}`}>
          <span>{t.text}</span>
          {t.action && (
            <button type="button" class="link" onClick={() => { t.action?.run(); dismiss(t.id); }}>
              {t.action.label}
            </button>
          )}
          <button type="button" class="link" aria-label="Dismiss" onClick={() => dismiss(t.id)}>×</button>
        </div>
      ))}
    </div>
  );
}
