// Sign in: password (and a second-factor code when the account has one), or the
// tenant's single sign-on by its short name: only the protocols the tenant has
// configured are offered (GET /api/v1/auth/sso/discover).
import { useEffect, useRef, useState } from "preact/hooks";
import { discoverSso, errorText, login, loginTotp, type SsoMethod } from "../api";
import { ForgotPassword } from "./Public";

const PROTOCOL_NAMES: Record<SsoMethod["protocol"], string> = {
  oidc: "OpenID Connect",
  saml: "SAML",
};

export function Login({ onSignedIn, notice }: { onSignedIn: () => void; notice?: string }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [tenant, setTenant] = useState("");
  const [ticket, setTicket] = useState<string | null>(null);
  const [code, setCode] = useState("");
  const [error, setError] = useState(notice || "");
  const [busy, setBusy] = useState(false);
  const [ssoTenant, setSsoTenant] = useState("");
  const [ssoMethods, setSsoMethods] = useState<SsoMethod[] | null>(null);
  const codeField = useRef<HTMLInputElement>(null);
  useEffect(() => codeField.current?.focus(), [ticket]); // autofocus acts on page load only

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      if (ticket) {
        await loginTotp(ticket, code);
        onSignedIn();
        return;
      }
      const outcome = await login(email.trim(), password, tenant.trim());
      if (outcome.ok) onSignedIn();
      else setTicket(outcome.mfaTicket);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  const findSso = async (event: Event) => {
    event.preventDefault();
    const slug = ssoTenant.trim();
    if (!slug) return;
    setError("");
    try {
      setSsoMethods(await discoverSso(slug));
    } catch (e) {
      setError(errorText(e));
    }
  };

  return (
    <main class="login" id="main">
      <h1>inboxhub</h1>
      <form class="card" onSubmit={submit} aria-labelledby="signin-title">
        <h2 id="signin-title">Sign in</h2>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {ticket ? (
          <label>
            Code from your authenticator app (or a recovery code)
            <input
              name="code" autoComplete="one-time-code" inputMode="numeric" required ref={codeField}
              value={code} onInput={(e) => setCode(e.currentTarget.value)}
            />
          </label>
        ) : (
          <>
            <label>
              Email
              <input
                name="email" type="email" autoComplete="username" required autoFocus
                value={email} onInput={(e) => setEmail(e.currentTarget.value)}
              />
            </label>
            <label>
              Password
              <input
                name="password" type="password" autoComplete="current-password" required
                value={password} onInput={(e) => setPassword(e.currentTarget.value)}
              />
            </label>
            <details>
              <summary>Account in several organisations?</summary>
              <label>
                Organisation short name
                <input name="tenant" value={tenant} onInput={(e) => setTenant(e.currentTarget.value)} />
              </label>
            </details>
          </>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Signing in…" : ticket ? "Verify" : "Sign in"}
        </button>
      </form>
      {!ticket && <ForgotPassword />}
      <form class="card" onSubmit={findSso} aria-labelledby="sso-title">
        <h2 id="sso-title">Single sign-on</h2>
        <label>
          Organisation short name
          <input
            name="sso-tenant" required value={ssoTenant}
            onInput={(e) => {
              setSsoTenant(e.currentTarget.value);
              setSsoMethods(null);
            }}
          />
        </label>
        {ssoMethods === null ? (
          <button type="submit">Continue</button>
        ) : ssoMethods.length === 0 ? (
          <p class="muted" role="status">
            This organisation offers no single sign-on here: sign in with your password.
          </p>
        ) : (
          <div class="row" role="group" aria-label="Sign-on methods">
            {ssoMethods.map((method) => (
              <a class="button" key={method.protocol} href={method.login_url}>
                Sign in with {PROTOCOL_NAMES[method.protocol]}
              </a>
            ))}
          </div>
        )}
      </form>
    </main>
  );
}
