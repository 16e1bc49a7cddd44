import type { Command } from '../command';
import { EXIT } from '../errors';

export const actionCommands: Command[] = [
  {
    words: ['actions', 'status'],
    summary: "an action's progress: targeted, acknowledged, failed, complete",
    usage: 'actions status ACTION_ID',
    options: {},
    args: { min: 1, max: 1 },
    async run(ctx) {
      ctx.out.printItem(await ctx.client().actionStatus(ctx.positionals[0]!));
      return EXIT.ok;
    },
  },
];
