import { intOption } from '../args';
import type { RolloutSnapshot } from '../client';
import type { CommandContext } from '../command';
import { EXIT, type ExitCode } from '../errors';

/** The flags of a command that starts an action and follows it. */
export const WAIT_OPTIONS = {
  'no-wait': { type: 'boolean' },
  timeout: { type: 'string' },
} as const;
export const WAIT_FLAGS = ['--no-wait          print the action id and return', '--timeout SECONDS  stop following the progress after this long (default 600; the action goes on)'];

const MAX_TIMEOUT_S = 7 * 86_400;

export const progressLine = (s: RolloutSnapshot): string =>
  `action ${s.action_id ?? '?'}: acknowledged ${s.acknowledged}/${s.targeted}, failed ${s.failed}${s.complete ? ', complete' : ''}`;

/**
 * Prints an action's id (stdout), then (unless --no-wait) follows its progress stream and prints
 * each change to stderr until it completes or --timeout passes (exit 0 either way: the action runs on).
 */
export async function followAction(ctx: CommandContext, actionId: string): Promise<ExitCode> {
  ctx.out.out(ctx.out.format === 'table' ? `action ${actionId}` : ctx.out.format === 'json' ? JSON.stringify({ actionId }) : `actionId: ${actionId}`);
  if (ctx.values['no-wait'] === true) return EXIT.ok;
  const timeoutS = intOption(ctx.values, 'timeout', 600, MAX_TIMEOUT_S);
  let previous = '';
  const result = await ctx.client().followAction(actionId, Date.now() + timeoutS * 1000, (s) => {
    const line = progressLine(s);
    if (line !== previous) ctx.out.err(line);
    previous = line;
  });
  if (!result.complete) ctx.out.err(`action ${actionId}: still running after ${timeoutS} s; see fleetctl actions status ${actionId}`);
  return EXIT.ok;
}
