import { InputError } from '@fleet/service-kit';
import { AGENT_STATUSES, type AgentStatus } from '@fleet/store';

export interface AgentFilter {
  policyIds?: string[];
  statuses?: AgentStatus[];
  tags?: string[];
}

const FIELDS = { policy_id: 'policyIds', status: 'statuses', tags: 'tags' } as const;
type Field = keyof typeof FIELDS;

/**
 * Parses the subset of KQL that Fleet's agent list uses into a structured filter (never into a
 * query string): clauses `field:value` or `field:(a or b)` joined by `and`, on `policy_id`,
 * `status` and `tags`, optionally prefixed `fleet-agents.`; values bare or double-quoted.
 */
export function parseAgentKuery(kuery: string | undefined): AgentFilter {
  const filter: AgentFilter = {};
  const text = (kuery ?? '').trim();
  if (!text) return filter;
  if (text.length > 2048) throw new InputError('kuery: too long');
  const clauses = splitTopLevel(text, 'and');
  for (const clause of clauses) {
    const m = /^(?:fleet-agents\.)?([a-z_]+)\s*:\s*(.+)$/i.exec(clause.trim());
    if (!m?.[1] || !m[2]) throw new InputError(`kuery: cannot parse "${clause.trim()}"`);
    const field = m[1].toLowerCase();
    if (!(field in FIELDS)) throw new InputError(`kuery: field "${field}" is not supported (use policy_id, status or tags)`);
    let valuePart = m[2].trim();
    if (valuePart.startsWith('(') && valuePart.endsWith(')')) valuePart = valuePart.slice(1, -1);
    const values = splitTopLevel(valuePart, 'or').map(unquote);
    const key = FIELDS[field as Field];
    if (key === 'statuses') {
      for (const v of values) {
        if (!(AGENT_STATUSES as readonly string[]).includes(v)) throw new InputError(`kuery: unknown status "${v}"`);
      }
      filter.statuses = [...(filter.statuses ?? []), ...(values as AgentStatus[])];
    } else {
      filter[key] = [...(filter[key] ?? []), ...values];
    }
  }
  return filter;
}

function unquote(raw: string): string {
  const v = raw.trim();
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return v.slice(1, -1).replace(/\\(.)/g, '$1');
  if (!/^[A-Za-z0-9._:@*-]+$/.test(v)) throw new InputError(`kuery: cannot parse value "${v}"`);
  return v;
}

/** Splits on a keyword outside quotes and parentheses, case-insensitively. */
function splitTopLevel(text: string, word: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  const re = new RegExp(`^\\s+${word}\\s+`, 'i');
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && quoted) {
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === '(') depth++;
    else if (!quoted && c === ')') depth--;
    else if (!quoted && depth === 0) {
      const m = re.exec(text.slice(i));
      if (m) {
        parts.push(text.slice(start, i));
        i += m[0].length - 1;
        start = i + 1;
      }
    }
  }
  parts.push(text.slice(start));
  if (quoted || depth !== 0) throw new InputError('kuery: unbalanced quotes or parentheses');
  return parts.filter((p) => p.trim() !== '');
}
