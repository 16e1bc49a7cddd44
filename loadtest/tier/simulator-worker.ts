import { FleetSimulator, type SimulatorOptions } from '../sim/fleet-simulator';

/**
 * One simulator process of the tier bench: a FleetSimulator (its own 20,000 open files) driven by
 * the bench over IPC. Requests are `{ id, op, ...args }`; each gets one `{ id, result }` or
 * `{ id, error }` reply. The first request must be `init`.
 */
export type WorkerRequest =
  | { id: number; op: 'init'; options: SimulatorOptions }
  | { id: number; op: 'enroll'; count: number; concurrency: number }
  | { id: number; op: 'prime'; concurrency: number }
  | { id: number; op: 'hold' }
  | { id: number; op: 'awaitRevision'; policyId: string; revision: number; sent: number; deadline: number }
  | { id: number; op: 'errors' }
  | { id: number; op: 'stop' };

/** A request without its id (the channel numbers them). */
export type WorkerCommand = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

let sim: FleetSimulator | undefined;

function simulator(): FleetSimulator {
  if (!sim) throw new Error('init first');
  return sim;
}

async function handle(req: WorkerRequest): Promise<unknown> {
  switch (req.op) {
    case 'init':
      sim = new FleetSimulator(req.options);
      return null;
    case 'enroll':
      return simulator().enroll(req.count, req.concurrency);
    case 'prime':
      return simulator().prime(req.concurrency);
    case 'hold':
      simulator().hold();
      return null;
    case 'awaitRevision':
      return simulator().awaitRevision(req.policyId, req.revision, req.sent, req.deadline);
    case 'errors':
      return simulator().errors.toJSON();
    case 'stop':
      await sim?.stop();
      return null;
  }
}

process.on('message', (req: WorkerRequest) => {
  handle(req).then(
    // After `stop` the reply is the last message: the channel closes once it is sent.
    (result) => process.send?.({ id: req.id, result }, undefined, {}, () => req.op === 'stop' && process.disconnect()),
    (err: unknown) => process.send?.({ id: req.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
});
// The bench gone (it crashed or was interrupted): nothing left to simulate for.
process.on('disconnect', () => {
  void sim?.stop().finally(() => process.exit(0));
});
