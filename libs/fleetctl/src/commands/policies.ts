import { intOption } from '../args';
import type { AgentPolicy } from '../client';
import type { Command } from '../command';
import { EXIT } from '../errors';
import type { Column } from '../output';
import { redactSensitive } from '../sensitive-fields';
import { printWarnings } from '../plan/apply-plan';

const SHOW_SECRETS = { 'show-secrets': { type: 'boolean' } } as const;
const SHOW_SECRETS_FLAG = '--show-secrets  print credentials (output api_key, password…) instead of (secret)';

export const POLICY_COLUMNS: Column<AgentPolicy>[] = [
  { heading: 'ID', value: (p) => p.id },
  { heading: 'NAME', value: (p) => p.name },
  { heading: 'NAMESPACE', value: (p) => p.namespace },
  { heading: 'REVISION', value: (p) => p.revision },
  { heading: 'AGENTS', value: (p) => p.agents },
  { heading: 'UPDATED', value: (p) => p.updated_at },
];

export const policyCommands: Command[] = [
  {
    words: ['policies', 'list'],
    summary: 'list agent policies (with their agent counts)',
    usage: 'policies list [--page N] [--per-page N]',
    flags: [SHOW_SECRETS_FLAG],
    options: { page: { type: 'string' }, 'per-page': { type: 'string' }, ...SHOW_SECRETS },
    args: { min: 0, max: 0 },
    async run(ctx) {
      const page = await ctx.client().listPolicies({ page: intOption(ctx.values, 'page', 1, 10_000), perPage: intOption(ctx.values, 'per-page', 20, 10_000), withAgentCount: true });
      ctx.out.print(ctx.values['show-secrets'] === true ? page : redactSensitive(page), page.items, POLICY_COLUMNS);
      return EXIT.ok;
    },
  },
  {
    words: ['policies', 'get'],
    summary: 'show one agent policy',
    usage: 'policies get ID [--show-secrets]',
    flags: [SHOW_SECRETS_FLAG],
    options: { ...SHOW_SECRETS },
    args: { min: 1, max: 1 },
    async run(ctx) {
      const { item, warnings } = await ctx.client().readPolicy(ctx.positionals[0]!);
      ctx.out.printItem(ctx.values['show-secrets'] === true ? item : (redactSensitive(item) as Record<string, unknown>));
      printWarnings(ctx.out, `agent_policy "${item.id}"`, warnings);
      return EXIT.ok;
    },
  },
  {
    words: ['policies', 'delete'],
    summary: 'delete an agent policy (refused while agents use it, unless --force)',
    usage: 'policies delete ID [--force]',
    flags: ['--force  delete it even if agents use it (they are unenrolled)'],
    options: { force: { type: 'boolean' } },
    args: { min: 1, max: 1 },
    async run(ctx) {
      const id = ctx.positionals[0]!;
      const current = await ctx.client().getPolicy(id);
      await ctx.client().deletePolicy(id, { revision: current.revision, ...(ctx.values.force === true ? { force: true } : {}) });
      ctx.out.err(`agent_policy "${id}": deleted`);
      return EXIT.ok;
    },
  },
];
