// Tenant admins: the tenant's users, their roles and status; adding and removing.
import { useEffect, useState } from "preact/hooks";
import { errorText, get, send } from "../api";
import { useSession } from "../session";
import type { Page, User } from "../types";

const ROLES = ["member", "admin", "auditor", "owner"];

export function Users() {
  const { me, toast } = useSession();
  const [users, setUsers] = useState<User[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState("");
  const [email, setEmail] = useState("");
  const [role, setRole] = useState("member");
  const [password, setPassword] = useState("");

  const load = async (cursor: string | null = null) => {
    try {
      const page = await get<Page<User>>("/api/v1/users", { cursor, limit: 100 });
      setUsers((old) => (cursor ? [...old, ...page.items] : page.items));
      setNext(page.next_cursor);
    } catch (e) {
      setError(errorText(e));
    }
  };
  useEffect(() => void load(), []);

  const change = async (what: string, run: () => Promise<unknown>) => {
    try {
      await run();
      toast({ text: what });
      await load();
    } catch (e) {
      toast({ text: errorText(e), error: true });
    }
  };
  const add = (event: Event) => {
    event.preventDefault();
    const body = { email: email.trim(), roles: [role], password: password || null };
    change(password ? `Added ${body.email}.` : `Invited ${body.email}.`, () => send("POST", "/api/v1/users", body)).then(() => {
      setEmail("");
      setPassword("");
    });
  };

  return (
    <section class="page" aria-labelledby="users-title">
      <h1 id="users-title">Users</h1>
      {error && <p class="error" role="alert">{error}</p>}
      <table class="table">
        <caption class="visually-hidden">Users of this organisation</caption>
        <thead>
          <tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Status</th><th scope="col">Since</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr>
        </thead>
        <tbody>
          {users.map((u) => (
            <tr key={u.id} data-user={u.email}>
              <td>{u.email}</td>
              <td>
                <label class="visually-hidden" for={`role-${u.id}`}>Role of {u.email}</label>
                <select
                  id={`role-${u.id}`}
                  value={ROLES.find((r) => u.roles.includes(r)) || u.roles[0]}
                  disabled={u.id === me.id}
                  onChange={(e) => change(`Changed the role of ${u.email}.`, () => send("PATCH", `/api/v1/users/${u.id}`, { roles: [e.currentTarget.value] }))}
                >
                  {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
                </select>
              </td>
              <td>{u.status}</td>
              <td>{new Date(u.created_at).toLocaleDateString()}</td>
              <td class="row">
                {u.id !== me.id && (
                  <>
                    <button type="button" onClick={() => change(`${u.email} is ${u.status === "active" ? "suspended" : "active"}.`, () => send("PATCH", `/api/v1/users/${u.id}`, { status: u.status === "active" ? "suspended" : "active" }))}>
                      {u.status === "active" ? "Suspend" : "Activate"}
                    </button>
                    <button type="button" class="danger" onClick={() => confirm(`Delete ${u.email}?`) && change(`Deleted ${u.email}.`, () => send("DELETE", `/api/v1/users/${u.id}`))}>
                      Delete
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {next && <button type="button" onClick={() => load(next)}>More users</button>}
      <form class="card" onSubmit={add} aria-labelledby="add-user-title">
        <h2 id="add-user-title">Add a user</h2>
        <label>Email<input type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} /></label>
        <label>
          Role
          <select value={role} onChange={(e) => setRole(e.currentTarget.value)}>
            {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
          </select>
        </label>
        <label>
          Password (leave empty to send an invitation instead)
          <input type="password" autoComplete="new-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <button type="submit" class="primary">Add</button>
      </form>
    </section>
  );
}
