import { stringOption } from '../args';
import type { Command, CommandContext } from '../command';
import { EXIT, UsageError } from '../errors';
import { applyPlan } from '../plan/apply-plan';
import { computePlan, hasChanges, serverSecretValues, type Plan } from '../plan/compute-plan';
import { loadDirectory } from '../plan/load-files';
import { renderPlan } from '../plan/render-plan';

const PLAN_OPTIONS = { file: { type: 'string', short: 'f' }, prune: { type: 'boolean' }, force: { type: 'boolean' }, 'rotate-secrets': { type: 'boolean' } } as const;
const PLAN_FLAGS = [
  '-f, --file DIR  the directory of *.yaml / *.yml files (recursive)',
  '--prune         delete the policies (not managed ones) and revoke the tokens the files do not name',
  '--force         with --prune: delete policies even if agents use them (they are unenrolled)',
  '--rotate-secrets  send every value of the files\' secrets fields again (stored anew); otherwise a secret the server holds is kept',
];

/** Reads the files, then the server, and computes the plan; every secret is registered with the output first. */
async function makePlan(ctx: CommandContext): Promise<Plan> {
  const dir = stringOption(ctx.values, 'file');
  if (!dir) throw new UsageError('-f DIR is required');
  const desired = loadDirectory(dir, ctx.env);
  for (const o of [...desired.policies, ...desired.tokens]) for (const v of o.secretValues) ctx.out.addSecret(v);
  const client = ctx.client();
  const prune = ctx.values.prune === true;
  const [policies, keys] = await Promise.all([client.allPolicies(prune), client.allEnrollmentKeys()]);
  for (const v of serverSecretValues(desired, policies)) ctx.out.addSecret(v);
  return computePlan(desired, policies, keys, { prune, force: ctx.values.force === true, rotateSecrets: ctx.values['rotate-secrets'] === true });
}

export const planCommands: Command[] = [
  {
    words: ['plan'],
    summary: 'show what apply would change (exit 0: nothing, 2: changes)',
    usage: 'plan -f DIR [--prune] [--force] [--rotate-secrets]',
    flags: PLAN_FLAGS,
    options: PLAN_OPTIONS,
    args: { min: 0, max: 0 },
    async run(ctx) {
      const plan = await makePlan(ctx);
      ctx.out.out(renderPlan(plan));
      return hasChanges(plan) ? EXIT.changes : EXIT.ok;
    },
  },
  {
    words: ['apply'],
    summary: 'make the server match the files (prints the plan, then applies it)',
    usage: 'apply -f DIR [--prune] [--force] [--rotate-secrets] [--tokens-out FILE]',
    flags: [...PLAN_FLAGS, '--tokens-out FILE  write the secrets of the tokens created to FILE (JSON, mode 0600)'],
    options: { ...PLAN_OPTIONS, 'tokens-out': { type: 'string' } },
    args: { min: 0, max: 0 },
    async run(ctx) {
      const plan = await makePlan(ctx);
      ctx.out.out(renderPlan(plan));
      if (!hasChanges(plan)) return EXIT.ok;
      const tokensOut = stringOption(ctx.values, 'tokens-out');
      await applyPlan(ctx.client(), plan, ctx.out, tokensOut !== undefined ? { tokensOut } : {});
      ctx.out.out('Apply complete.');
      return EXIT.ok;
    },
  },
];
