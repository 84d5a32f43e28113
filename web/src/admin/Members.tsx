// Who may read a mailbox: members see only the mailboxes assigned to them
// (owners, admins and auditors see all).
import { useEffect, useState } from "preact/hooks";
import { errorText, get, send } from "../api";
import { useSession } from "../session";
import type { Mailbox, Page, User } from "../types";

export function Members({ box, onClose }: { box: Mailbox; onClose: () => void }) {
  const { toast } = useSession();
  const [users, setUsers] = useState<User[]>([]);
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  useEffect(() => {
    Promise.all([
      get<Page<User>>("/api/v1/users", { limit: 200 }),
      get<{ user_ids: string[] }>(`/api/v1/mailboxes/${box.id}/members`),
    ])
      .then(([page, members]) => {
        setUsers(page.items.filter((u) => u.roles.includes("member")));
        setChosen(new Set(members.user_ids));
      })
      .catch((e) => toast({ text: errorText(e), error: true }));
  }, [box.id]);
  const toggle = (id: string) => {
    const next = new Set(chosen);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setChosen(next);
  };
  const save = async (event: Event) => {
    event.preventDefault();
    try {
      await send("PUT", `/api/v1/mailboxes/${box.id}/members`, { user_ids: [...chosen] });
      toast({ text: `Saved who reads ${box.name}.` });
      onClose();
    } catch (e) {
      toast({ text: errorText(e), error: true });
    }
  };
  return (
    <form class="card" onSubmit={save} aria-label={`Members of ${box.name}`}>
      <fieldset>
        <legend>Members who read {box.name}</legend>
        {users.length === 0 && <p class="muted">No user with the member role.</p>}
        {users.map((u) => (
          <label key={u.id} class="check">
            <input type="checkbox" checked={chosen.has(u.id)} onChange={() => toggle(u.id)} /> {u.email}
          </label>
        ))}
      </fieldset>
      <div class="row">
        <button type="submit" class="primary">Save</button>
        <button type="button" onClick={onClose}>Cancel</button>
      </div>
    </form>
  );
}
