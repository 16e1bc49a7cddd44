import { InputError } from '@fleet/service-kit';
import { AGENT_STATUSES, type AgentStatus } from '@fleet/store';

/**
 * A structured agent filter: each listed field must match one of its values (fields not listed
 * are unconstrained). `matchNone` marks a filter no agent can match (`status:online and
 * status:offline`); callers answer it with nothing instead of querying.
 */
export interface AgentFilter {
  policyIds?: string[];
  statuses?: AgentStatus[];
  tags?: string[];
  matchNone?: true;
}

const FIELDS = { policy_id: 'policyIds', status: 'statuses', tags: 'tags' } as const;
type Field = keyof typeof FIELDS;
type Key = (typeof FIELDS)[Field];
const KEYS: readonly Key[] = ['policyIds', 'statuses', 'tags'];

const MAX_LENGTH = 2048;
const MAX_DEPTH = 32;

type Node = { kind: 'clause'; key: Key; values: string[] } | { kind: 'and' | 'or'; children: Node[] };

/**
 * Parses the subset of KQL that Fleet's agent list uses into a structured filter (never into a
 * query string): clauses `field:value` or `field:(a or b)` on `policy_id`, `status` and `tags`
 * (optionally prefixed `fleet-agents.`), values bare or double-quoted, combined with `and`, `or`
 * and parentheses (`and` binds tighter than `or`, as in KQL). An `or` must stay expressible as one
 * filter: between values of one field (`status:online or status:offline`), or between groups that
 * differ in one field only. Anything else is a 400 naming what is not supported.
 */
export function parseAgentKuery(kuery: string | undefined): AgentFilter {
  const text = (kuery ?? '').trim();
  if (!text) return {};
  if (text.length > MAX_LENGTH) throw new InputError('kuery: too long');
  const parser = new KueryParser(text);
  const tree = parser.parse();
  return toFilter(tree);
}

class KueryParser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly text: string) {}

  parse(): Node {
    const node = this.parseOr();
    this.skipWs();
    if (this.pos < this.text.length) throw this.error(`unexpected "${this.text.slice(this.pos, this.pos + 20)}"`);
    return node;
  }

  private parseOr(): Node {
    const children = [this.parseAnd()];
    while (this.keyword('or')) children.push(this.parseAnd());
    return children.length === 1 ? (children[0] as Node) : { kind: 'or', children };
  }

  private parseAnd(): Node {
    const children = [this.parsePrimary()];
    while (this.keyword('and')) children.push(this.parsePrimary());
    return children.length === 1 ? (children[0] as Node) : { kind: 'and', children };
  }

  private parsePrimary(): Node {
    this.skipWs();
    if (this.text[this.pos] !== '(') return this.parseClause();
    if (++this.depth > MAX_DEPTH) throw this.error('nested too deeply');
    this.pos++;
    const node = this.parseOr();
    this.expect(')');
    this.depth--;
    return node;
  }

  private parseClause(): Node {
    const start = this.pos;
    const name = /^[A-Za-z_][A-Za-z0-9_.-]*/.exec(this.text.slice(this.pos))?.[0];
    if (!name) throw this.error(`cannot parse "${this.text.slice(start, start + 20)}"`);
    this.pos += name.length;
    const field = name.toLowerCase().replace(/^fleet-agents\./, '');
    if (!(field in FIELDS)) throw new InputError(`kuery: field "${field}" is not supported (use policy_id, status or tags)`);
    this.expect(':');
    this.skipWs();
    const values: string[] = [];
    if (this.text[this.pos] === '(') {
      this.pos++;
      values.push(this.value());
      while (this.keyword('or')) values.push(this.value());
      this.expect(')');
    } else values.push(this.value());
    const key = FIELDS[field as Field];
    if (key === 'statuses') {
      for (const v of values) if (!(AGENT_STATUSES as readonly string[]).includes(v)) throw new InputError(`kuery: unknown status "${v}"`);
    }
    return { kind: 'clause', key, values };
  }

  private value(): string {
    this.skipWs();
    if (this.text[this.pos] === '"') {
      let out = '';
      for (let i = this.pos + 1; i < this.text.length; i++) {
        const c = this.text[i];
        if (c === '\\' && i + 1 < this.text.length) out += this.text[++i];
        else if (c === '"') {
          this.pos = i + 1;
          return out;
        } else out += c;
      }
      throw this.error('unbalanced quotes or parentheses');
    }
    const bare = /^[A-Za-z0-9._:@*-]+/.exec(this.text.slice(this.pos))?.[0];
    if (!bare) throw this.error(`cannot parse value "${this.text.slice(this.pos, this.pos + 20)}"`);
    this.pos += bare.length;
    return bare;
  }

  /** Consumes `word` (case-insensitive) when it stands alone: followed by space or `(`. */
  private keyword(word: string): boolean {
    const save = this.pos;
    this.skipWs();
    if (this.pos === save && save > 0 && this.text[save - 1] !== ')' && this.text[save - 1] !== '"') return false;
    const m = new RegExp(`^${word}(?=[\\s(])`, 'i').exec(this.text.slice(this.pos));
    if (!m) {
      this.pos = save;
      return false;
    }
    this.pos += m[0].length;
    return true;
  }

  private expect(c: string): void {
    this.skipWs();
    if (this.text[this.pos] !== c) throw this.error(this.pos >= this.text.length ? 'unbalanced quotes or parentheses' : `expected "${c}"`);
    this.pos++;
  }

  private skipWs(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos] ?? '')) this.pos++;
  }

  private error(what: string): InputError {
    return new InputError(`kuery: ${what}`);
  }
}

type Constraints = Partial<Record<Key, string[]>>;
const NONE = Symbol('none');

function toFilter(node: Node): AgentFilter {
  const c = constraints(node);
  if (c === NONE) return { matchNone: true };
  const filter: AgentFilter = {};
  if (c.policyIds) filter.policyIds = c.policyIds;
  if (c.statuses) filter.statuses = c.statuses as AgentStatus[];
  if (c.tags) filter.tags = c.tags;
  return filter;
}

function constraints(node: Node): Constraints | typeof NONE {
  if (node.kind === 'clause') return { [node.key]: [...new Set(node.values)] };
  const parts = node.children.map(constraints);
  return node.kind === 'and' ? conjunction(parts) : disjunction(parts);
}

/** Every part must hold: per field, the values all parts allow. */
function conjunction(parts: Array<Constraints | typeof NONE>): Constraints | typeof NONE {
  const out: Constraints = {};
  for (const part of parts) {
    if (part === NONE) return NONE;
    for (const key of KEYS) {
      const values = part[key];
      if (!values) continue;
      const prev = out[key];
      if (!prev) {
        out[key] = values;
        continue;
      }
      // An agent has one policy and one status, but several tags: "tags:a and tags:b" asks for
      // both, which the store's filter (any of the tags) cannot express.
      if (key === 'tags' && !sameSet(prev, values)) {
        throw new InputError('kuery: "tags:a and tags:b" (agents with both tags) is not supported; tags:(a or b) selects agents with either');
      }
      const both = prev.filter((v) => values.includes(v));
      if (both.length === 0) return NONE;
      out[key] = both;
    }
  }
  return out;
}

/** Any part may hold: expressible when the parts constrain the same fields alike but one. */
function disjunction(parts: Array<Constraints | typeof NONE>): Constraints | typeof NONE {
  const live = parts.filter((p): p is Constraints => p !== NONE);
  if (live.length === 0) return NONE;
  const [first, ...rest] = live as [Constraints, ...Constraints[]];
  let out: Constraints = { ...first };
  for (const part of rest) {
    const differing = KEYS.filter((k) => !sameSet(out[k], part[k]));
    if (differing.length === 0) continue;
    const key = differing[0] as Key;
    if (differing.length > 1) {
      throw new InputError('kuery: "or" between clauses on different fields is not supported (e.g. status:online or tags:x); use it between values of one field');
    }
    const a = out[key];
    const b = part[key];
    // One side leaves the field open: the union is open too.
    const merged = a && b ? [...new Set([...a, ...b])] : undefined;
    out = { ...out };
    if (merged) out[key] = merged;
    else delete out[key];
  }
  return out;
}

function sameSet(a: string[] | undefined, b: string[] | undefined): boolean {
  if (!a || !b) return a === b;
  return a.length === b.length && a.every((v) => b.includes(v));
}
