import { intOption, stringOption } from '../args';
import type { EnrollmentKey } from '../client';
import type { Command } from '../command';
import { EXIT, UsageError } from '../errors';
import type { Column } from '../output';

const TOKEN_COLUMNS: Column<EnrollmentKey>[] = [
  { heading: 'ID', value: (k) => k.id },
  { heading: 'NAME', value: (k) => k.name },
  { heading: 'POLICY', value: (k) => k.policy_id },
  { heading: 'ACTIVE', value: (k) => k.active },
  { heading: 'CREATED', value: (k) => k.created_at },
  { heading: 'EXPIRES', value: (k) => k.expire_at },
];

export const tokenCommands: Command[] = [
  {
    words: ['tokens', 'list'],
    summary: 'list enrollment tokens (never their secrets)',
    usage: 'tokens list [--policy POLICY_ID] [--page N] [--per-page N]',
    options: { policy: { type: 'string' }, page: { type: 'string' }, 'per-page': { type: 'string' } },
    args: { min: 0, max: 0 },
    async run(ctx) {
      const policy = stringOption(ctx.values, 'policy');
      const page = await ctx.client().listEnrollmentKeys({ page: intOption(ctx.values, 'page', 1, 10_000), perPage: intOption(ctx.values, 'per-page', 20, 10_000), ...(policy ? { policyId: policy } : {}) });
      ctx.out.print(page, page.items, TOKEN_COLUMNS);
      return EXIT.ok;
    },
  },
  {
    words: ['tokens', 'create'],
    summary: 'create an enrollment token and print it (the only time it is shown)',
    usage: 'tokens create --policy POLICY_ID [--name NAME] [--expiration ISO_DATE]',
    options: { policy: { type: 'string' }, name: { type: 'string' }, expiration: { type: 'string' } },
    args: { min: 0, max: 0 },
    async run(ctx) {
      const policy = stringOption(ctx.values, 'policy');
      if (!policy) throw new UsageError('--policy POLICY_ID is required');
      const name = stringOption(ctx.values, 'name');
      const expiration = stringOption(ctx.values, 'expiration');
      const item = await ctx.client().createEnrollmentKey({ policy_id: policy, ...(name !== undefined ? { name } : {}), ...(expiration !== undefined ? { expiration } : {}) });
      ctx.out.printItem(item);
      return EXIT.ok;
    },
  },
  {
    words: ['tokens', 'revoke'],
    summary: 'revoke an enrollment token',
    usage: 'tokens revoke ID',
    options: {},
    args: { min: 1, max: 1 },
    async run(ctx) {
      await ctx.client().revokeEnrollmentKey(ctx.positionals[0]!);
      ctx.out.err(`enrollment token ${ctx.positionals[0]!}: revoked`);
      return EXIT.ok;
    },
  },
];
