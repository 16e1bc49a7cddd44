import { intOption, listOption, stringOption } from '../args';
import type { Agent } from '../client';
import type { Command, CommandContext } from '../command';
import { EXIT, UsageError } from '../errors';
import type { Column } from '../output';
import { followAction, WAIT_FLAGS, WAIT_OPTIONS } from './progress';

const hostname = (a: Agent): unknown => (a.local_metadata as { host?: { hostname?: unknown } } | undefined)?.host?.hostname;

const AGENT_COLUMNS: Column<Agent>[] = [
  { heading: 'ID', value: (a) => a.id },
  { heading: 'HOSTNAME', value: hostname },
  { heading: 'STATUS', value: (a) => a.status },
  { heading: 'POLICY', value: (a) => a.policy_id },
  { heading: 'REVISION', value: (a) => a.policy_revision },
  { heading: 'VERSION', value: (a) => a.agent?.version },
  { heading: 'LAST CHECKIN', value: (a) => a.last_checkin },
  { heading: 'TAGS', value: (a) => a.tags?.join(',') },
];

/** The agents a bulk command names: its ids, or --kuery (not both). */
function targetOf(ctx: CommandContext): string[] | string {
  const kuery = stringOption(ctx.values, 'kuery');
  if (kuery !== undefined && ctx.positionals.length) throw new UsageError('name agents by ID or by --kuery, not both');
  if (kuery !== undefined) return kuery;
  if (!ctx.positionals.length) throw new UsageError('name the agents: one or more IDs, or --kuery KUERY');
  return ctx.positionals;
}

const TARGET = { kuery: { type: 'string' }, ...WAIT_OPTIONS } as const;
const TARGET_FLAGS = ['--kuery KUERY       the agents a kuery selects (instead of IDs)', ...WAIT_FLAGS];
const MANY = { min: 0, max: 10_000 };

export const agentCommands: Command[] = [
  {
    words: ['agents', 'list'],
    summary: 'list agents',
    usage: 'agents list [--kuery KUERY] [--status STATUS] [--page N] [--per-page N] [--show-inactive]',
    flags: ['--kuery KUERY    e.g. \'policy_id:"prod" and tags:web\'', '--status STATUS  online, offline, error, updating, enrolling, unenrolled… (comma-separated)', '--page N, --per-page N (default 1, 20)', '--show-inactive  include unenrolled agents'],
    options: { kuery: { type: 'string' }, status: { type: 'string' }, page: { type: 'string' }, 'per-page': { type: 'string' }, 'show-inactive': { type: 'boolean' } },
    args: { min: 0, max: 0 },
    async run(ctx) {
      const statuses = listOption(ctx.values, 'status');
      const kuery = [stringOption(ctx.values, 'kuery'), statuses.length ? `status:(${statuses.join(' or ')})` : undefined].filter(Boolean).map((k) => `(${k})`).join(' and ');
      const page = await ctx.client().listAgents({
        page: intOption(ctx.values, 'page', 1, 10_000),
        perPage: intOption(ctx.values, 'per-page', 20, 10_000),
        ...(kuery ? { kuery } : {}),
        showInactive: ctx.values['show-inactive'] === true,
      });
      ctx.out.print(page, page.items, AGENT_COLUMNS);
      if (ctx.out.format === 'table') ctx.out.err(`${page.items.length} of ${page.total} agents (page ${page.page})`);
      return EXIT.ok;
    },
  },
  {
    words: ['agents', 'get'],
    summary: 'show one agent',
    usage: 'agents get ID',
    options: {},
    args: { min: 1, max: 1 },
    async run(ctx) {
      ctx.out.printItem(await ctx.client().getAgent(ctx.positionals[0]!));
      return EXIT.ok;
    },
  },
  {
    words: ['agents', 'unenroll'],
    summary: 'unenroll agents (bulk_unenroll), following the action',
    usage: 'agents unenroll (ID... | --kuery KUERY) [--revoke]',
    flags: ['--revoke           deactivate at once (the agents are not asked)', ...TARGET_FLAGS],
    options: { ...TARGET, revoke: { type: 'boolean' } },
    args: MANY,
    async run(ctx) {
      const res = await ctx.client().bulkUnenroll({ agents: targetOf(ctx), ...(ctx.values.revoke === true ? { revoke: true } : {}) });
      return followAction(ctx, res.actionId);
    },
  },
  {
    words: ['agents', 'reassign'],
    summary: 'move agents to another policy (bulk_reassign)',
    usage: 'agents reassign (ID... | --kuery KUERY) --policy POLICY_ID',
    flags: ['--policy POLICY_ID  the policy to move them to', ...TARGET_FLAGS],
    options: { ...TARGET, policy: { type: 'string' } },
    args: MANY,
    async run(ctx) {
      const policy = stringOption(ctx.values, 'policy');
      if (!policy) throw new UsageError('--policy POLICY_ID is required');
      const res = await ctx.client().bulkReassign({ agents: targetOf(ctx), policy_id: policy });
      return followAction(ctx, res.actionId);
    },
  },
  {
    words: ['agents', 'upgrade'],
    summary: 'upgrade agents to a version (bulk_upgrade)',
    usage: 'agents upgrade (ID... | --kuery KUERY) --version VERSION [--source-uri URI] [--rollout-duration SECONDS] [--force]',
    flags: ['--version VERSION          e.g. 9.1.2', '--source-uri URI           where agents download it (must be allowed by the server)', '--rollout-duration SECONDS  spread the upgrade over this long', '--force                    upgrade even if the agents do not say they can', ...TARGET_FLAGS],
    options: { ...TARGET, version: { type: 'string' }, 'source-uri': { type: 'string' }, 'rollout-duration': { type: 'string' }, force: { type: 'boolean' } },
    args: MANY,
    async run(ctx) {
      const version = stringOption(ctx.values, 'version');
      if (!version) throw new UsageError('--version VERSION is required');
      const source = stringOption(ctx.values, 'source-uri');
      const duration = stringOption(ctx.values, 'rollout-duration') !== undefined ? intOption(ctx.values, 'rollout-duration', 1, 30 * 86_400) : undefined;
      const res = await ctx.client().bulkUpgrade({
        agents: targetOf(ctx),
        version,
        ...(source !== undefined ? { source_uri: source } : {}),
        ...(duration !== undefined ? { rollout_duration_seconds: duration } : {}),
        ...(ctx.values.force === true ? { force: true } : {}),
      });
      return followAction(ctx, res.actionId);
    },
  },
  {
    words: ['agents', 'tag'],
    summary: 'add or remove agent tags (bulk_update_agent_tags)',
    usage: 'agents tag (ID... | --kuery KUERY) [--add TAG,...] [--remove TAG,...]',
    flags: ['--add TAG,...     tags to add (repeatable)', '--remove TAG,...  tags to remove (repeatable)', ...TARGET_FLAGS],
    options: { ...TARGET, add: { type: 'string', multiple: true }, remove: { type: 'string', multiple: true } },
    args: MANY,
    async run(ctx) {
      const add = listOption(ctx.values, 'add');
      const remove = listOption(ctx.values, 'remove');
      if (!add.length && !remove.length) throw new UsageError('name a tag: --add TAG or --remove TAG');
      const res = await ctx.client().bulkTags({ agents: targetOf(ctx), ...(add.length ? { tagsToAdd: add } : {}), ...(remove.length ? { tagsToRemove: remove } : {}) });
      return followAction(ctx, res.actionId);
    },
  },
  {
    words: ['agents', 'diagnostics'],
    summary: "request an agent's diagnostics bundle, list its uploads, or download one",
    usage: 'agents diagnostics ID [--list | --download FILE [--upload UPLOAD_ID]]',
    flags: ['(no flag)           request a bundle (REQUEST_DIAGNOSTICS) and follow the action', '--list              the uploads of the agent', '--download FILE     write the newest ready upload (or --upload UPLOAD_ID) to FILE (mode 0600)', ...WAIT_FLAGS],
    options: { list: { type: 'boolean' }, download: { type: 'string' }, upload: { type: 'string' }, ...WAIT_OPTIONS },
    args: { min: 1, max: 1 },
    async run(ctx) {
      const id = ctx.positionals[0]!;
      const file = stringOption(ctx.values, 'download');
      if (ctx.values.list === true && file !== undefined) throw new UsageError('--list or --download, not both');
      if (ctx.values.list === true) {
        const items = await ctx.client().uploads(id);
        ctx.out.print({ items }, items, [
          { heading: 'ID', value: (u) => u.id },
          { heading: 'STATUS', value: (u) => u.status },
          { heading: 'CREATED', value: (u) => u.createTime },
          { heading: 'NAME', value: (u) => u.name },
        ]);
        return EXIT.ok;
      }
      if (file !== undefined) {
        const wanted = stringOption(ctx.values, 'upload');
        const items = await ctx.client().uploads(id);
        const upload = wanted !== undefined ? items.find((u) => u.id === wanted) : items.find((u) => u.status === 'READY');
        if (!upload) throw new UsageError(wanted !== undefined ? `agent ${id} has no upload ${wanted}` : `agent ${id} has no ready upload (see --list)`);
        if (upload.status !== 'READY' || !upload.filePath) throw new UsageError(`upload ${upload.id} is ${upload.status}, not READY`);
        const bytes = await ctx.client().download(upload.filePath, file);
        ctx.out.err(`wrote ${bytes} bytes of ${upload.name ?? upload.id} to ${file}`);
        return EXIT.ok;
      }
      const res = await ctx.client().requestDiagnostics(id);
      return followAction(ctx, res.actionId);
    },
  },
];
