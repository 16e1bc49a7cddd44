/**
 * Output health (the reference's `logs-fleet_server.output_health-default` data stream): one
 * document per state change of an output, which Kibana's Fleet shows on the output's page. The
 * message never carries a credential.
 */
export const OUTPUT_HEALTH_DATA_STREAM = 'logs-fleet_server.output_health-default';

export type OutputHealthState = 'HEALTHY' | 'DEGRADED';

export interface OutputHealthDoc {
  '@timestamp': string;
  /** The output's id (its key in the policy's `outputs`). */
  output: string;
  state: OutputHealthState;
  message: string;
  data_stream: { type: 'logs'; dataset: 'fleet_server.output_health'; namespace: 'default' };
}

/** An output health document as the reference writes it. */
export function outputHealthDoc(output: string, state: OutputHealthState, message: string, at: Date = new Date()): OutputHealthDoc {
  return {
    '@timestamp': at.toISOString(),
    output,
    state,
    message,
    data_stream: { type: 'logs', dataset: 'fleet_server.output_health', namespace: 'default' },
  };
}

/**
 * Appends output health documents (op_type create on Elasticsearch, a table on SQLite). Writing
 * only: the `elastic/fleet-server` service account may not read `logs-*`, so readers (Kibana, the
 * tests) read them with their own credentials.
 */
export interface OutputHealthStore {
  write(doc: OutputHealthDoc): Promise<void>;
}
