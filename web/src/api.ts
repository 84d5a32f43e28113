// The one way the app talks to inboxhub: its public REST API, with the access token
// in memory and the refresh token in sessionStorage (docs/web.md says why).
import type { Problem, TokenPair } from "./types";

const REFRESH_KEY = "inboxhub.refresh_token";
let accessToken: string | null = null;
let accessExpires = 0;
let refreshing: Promise<boolean> | null = null;
let onSignedOut: () => void = () => {};

export class ApiError extends Error {
  constructor(readonly status: number, readonly problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
  }
}

export function whenSignedOut(callback: () => void): void {
  onSignedOut = callback;
}

export function hasSession(): boolean {
  return accessToken !== null || sessionStorage.getItem(REFRESH_KEY) !== null;
}

function keep(pair: TokenPair): void {
  accessToken = pair.access_token;
  accessExpires = Date.now() + pair.expires_in * 1000;
  sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
}

export function forget(): void {
  accessToken = null;
  accessExpires = 0;
  sessionStorage.removeItem(REFRESH_KEY);
}

async function problemOf(response: Response): Promise<Problem> {
  try {
    return (await response.json()) as Problem;
  } catch {
    return { title: response.statusText, status: response.status };
  }
}

async function post(path: string, body: unknown): Promise<Response> {
  return fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** A new token pair from the refresh token; false when there is none or it is refused. */
export function refresh(): Promise<boolean> {
  if (refreshing) return refreshing;
  const token = sessionStorage.getItem(REFRESH_KEY);
  if (!token) return Promise.resolve(false);
  refreshing = (async () => {
    try {
      const response = await post("/api/v1/auth/refresh", { refresh_token: token });
      if (!response.ok) {
        forget();
        return false;
      }
      keep((await response.json()) as TokenPair);
      return true;
    } catch {
      return false; // offline: keep the refresh token for the next try
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** A valid access token (refreshed when it is about to expire), for the WebSocket. */
export async function currentToken(): Promise<string | null> {
  if (!accessToken || Date.now() > accessExpires - 30_000) await refresh();
  return accessToken;
}

export type LoginOutcome = { ok: true } | { ok: false; mfaTicket: string };

export async function login(email: string, password: string, tenant?: string): Promise<LoginOutcome> {
  const response = await post("/api/v1/auth/login", { email, password, tenant: tenant || null });
  if (response.ok) {
    keep((await response.json()) as TokenPair);
    return { ok: true };
  }
  const problem = await problemOf(response);
  if (response.status === 401 && problem.mfa_required) {
    return { ok: false, mfaTicket: String(problem.mfa_ticket) };
  }
  throw new ApiError(response.status, problem);
}

async function tokenCall(path: string, body: unknown): Promise<void> {
  const response = await post(path, body);
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  keep((await response.json()) as TokenPair);
}

export const loginTotp = (ticket: string, code: string) =>
  tokenCall("/api/v1/auth/login/totp", { ticket, code });
export const exchangeSsoCode = (code: string) => tokenCall("/api/v1/auth/sso/exchange", { code });

export type SsoMethod = { protocol: "oidc" | "saml"; login_url: string };

/** The single sign-on a tenant offers (public; nothing for a tenant without or unknown). */
export async function discoverSso(tenant: string): Promise<SsoMethod[]> {
  const response = await fetch(withQuery("/api/v1/auth/sso/discover", { tenant }));
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  return ((await response.json()) as { methods: SsoMethod[] }).methods;
}

export async function logout(): Promise<void> {
  const refreshToken = sessionStorage.getItem(REFRESH_KEY);
  try {
    if (accessToken) {
      await fetch("/api/v1/auth/logout", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${accessToken}` },
        body: JSON.stringify({ refresh_token: refreshToken }),
      });
    }
  } finally {
    forget();
  }
}

type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** An authenticated request; one refresh and retry on 401. */
export async function call(
  method: string,
  path: string,
  options: { query?: Query; body?: unknown; signal?: AbortSignal } = {},
): Promise<Response> {
  const url = withQuery(path, options.query);
  const send = async () => {
    const token = await currentToken();
    const headers: Record<string, string> = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    let body: BodyInit | undefined;
    if (options.body instanceof FormData) body = options.body;
    else if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    return fetch(url, { method, headers, body, signal: options.signal });
  };
  let response = await send();
  if (response.status === 401) {
    if (await refresh()) response = await send();
    if (response.status === 401) {
      forget();
      onSignedOut();
    }
  }
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  return response;
}

export async function get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
  return (await (await call("GET", path, { query, signal })).json()) as T;
}

export async function send<T>(method: string, path: string, body?: unknown): Promise<T | null> {
  const response = await call(method, path, { body });
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? ((await response.json()) as T) : null;
}

/** Fetches a file with the bearer token, as a Blob (attachments, raw messages, exports). */
export async function blob(path: string, query?: Query): Promise<Blob> {
  return (await call("GET", path, { query })).blob();
}

/** Saves a Blob under a file name, through a temporary object URL. */
export function saveBlob(data: Blob, filename: string): void {
  const url = URL.createObjectURL(data);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
