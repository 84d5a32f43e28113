// The conversations the list last showed, so j/k inside a conversation can move on.
export const listContext: { threadIds: string[]; back: string } = { threadIds: [], back: "/" };

export function neighbour(threadId: string, step: 1 | -1): string | null {
  const at = listContext.threadIds.indexOf(threadId);
  if (at < 0) return null;
  return listContext.threadIds[at + step] ?? null;
}
