/**
 * `dancer init` proposes `service.smoke` from what the service answered so far: GET routes it
 * answered often and (nearly) always with the same success status. Pure apart from
 * {@link observedAnswers}, which reads them from the store.
 */
import { existsSync } from 'node:fs';
import { loggedAnswers, openStore } from '../store/index.js';

/** How often a route answered a status. */
export interface ObservedAnswer {
  method: string;
  path: string;
  status: number;
  count: number;
}

/** A proposed smoke request. */
export interface ProposedSmoke {
  method: string;
  path: string;
  status: number;
}

/**
 * Propose up to `max` smoke requests: GET paths seen at least `minCount` times that answered a
 * 2xx status in at least 95% of the answers, the most frequent first. Paths with a query string
 * or an obvious id are left out (a smoke check must not depend on data).
 */
export function proposeSmoke(answers: readonly ObservedAnswer[], max = 5, minCount = 3): ProposedSmoke[] {
  const byPath = new Map<string, ObservedAnswer[]>();
  for (const a of answers) {
    if (a.method.toUpperCase() !== 'GET' || !a.path.startsWith('/')) continue;
    if (/[?#]/.test(a.path) || /\/(\d+|[0-9a-f]{8,}|[0-9a-f-]{36})(\/|$)/i.test(a.path)) continue;
    const list = byPath.get(a.path) ?? [];
    list.push(a);
    byPath.set(a.path, list);
  }
  const out: Array<ProposedSmoke & { total: number }> = [];
  for (const [path, list] of byPath) {
    const total = list.reduce((n, a) => n + a.count, 0);
    const top = [...list].sort((x, y) => y.count - x.count)[0];
    if (!top || total < minCount || top.status < 200 || top.status > 299) continue;
    if (top.count / total < 0.95) continue;
    out.push({ method: 'GET', path, status: top.status, total });
  }
  return out
    .sort((a, b) => b.total - a.total || a.path.localeCompare(b.path))
    .slice(0, max)
    .map(({ method, path, status }) => ({ method, path, status }));
}

/** The answers logged in the store at `dbPath` (HTTP method, route or path, status), or none. */
export function observedAnswers(dbPath: string): ObservedAnswer[] {
  if (!existsSync(dbPath)) return [];
  const db = openStore(dbPath, { readonly: true });
  try {
    return loggedAnswers(db);
  } finally {
    db.close();
  }
}

/** The `smoke:` lines of a dancer.yaml `service:` section for a proposal ('' when empty). */
export function smokeYaml(proposal: readonly ProposedSmoke[]): string {
  if (proposal.length === 0) return '';
  const items = proposal.map(
    (p) => `    - { method: ${p.method}, path: ${JSON.stringify(p.path)}, status: ${p.status} }`,
  );
  return `  # proposed from what the service answered so far: checked on a private socket before each deploy\n  smoke:\n${items.join('\n')}\n`;
}
