// The pages links in the platform's mail lead to: password reset and invitations.
import { useState } from "preact/hooks";
import { errorText } from "../api";
import { navigate } from "../router";

async function postJson(path: string, body: unknown): Promise<void> {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new Error(problem.detail || problem.title || `HTTP ${response.status}`);
  }
}

function NewPassword({ title, path, token }: { title: string; path: string; token: string }) {
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const [done, setDone] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    try {
      const body = path.includes("invitations")
        ? { token, password }
        : { token, new_password: password };
      await postJson(path, body);
      setDone(true);
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <main class="login" id="main">
      <h1>inboxhub</h1>
      <form class="card" onSubmit={submit} aria-labelledby="public-title">
        <h2 id="public-title">{title}</h2>
        {error && <p class="error" role="alert">{error}</p>}
        {done ? (
          <p role="status">
            Done. <a href="/" onClick={(e) => { e.preventDefault(); navigate("/"); }}>Sign in</a>
          </p>
        ) : (
          <>
            <label>
              New password (at least 10 characters)
              <input type="password" autoComplete="new-password" minLength={10} required
                value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
            </label>
            <button class="primary" type="submit">Save</button>
          </>
        )}
      </form>
    </main>
  );
}

/** Asks for a reset mail; the answer is the same whether the address has an account. */
export function ForgotPassword() {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const [error, setError] = useState("");
  const submit = async (event: Event) => {
    event.preventDefault();
    try {
      await postJson("/api/v1/auth/password/reset", { email: email.trim() });
      setSent(true);
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <details class="forgot">
      <summary>Forgot your password?</summary>
      <form onSubmit={submit} aria-label="Send a reset link">
        {error && <p class="error" role="alert">{error}</p>}
        {sent ? (
          <p role="status">If the address has an account, a link to choose a new password is on its way.</p>
        ) : (
          <>
            <label>
              Account address
              <input name="reset-email" type="email" required value={email}
                onInput={(e) => setEmail(e.currentTarget.value)} />
            </label>
            <button type="submit">Send the link</button>
          </>
        )}
      </form>
    </details>
  );
}

export function ResetPassword({ token }: { token: string }) {
  return <NewPassword title="Choose a new password" path="/api/v1/auth/password/reset/confirm" token={token} />;
}

export function AcceptInvitation({ token }: { token: string }) {
  return <NewPassword title="Join your team on inboxhub" path="/api/v1/invitations/accept" token={token} />;
}
