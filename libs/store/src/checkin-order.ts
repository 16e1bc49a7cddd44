import type { AgentDoc } from './documents';

/**
 * Whether a batched checkin status write is older than what the agent's document already holds.
 *
 * Each gateway replica flushes its own status buffer, and a flush that failed (the store away,
 * a bulk cut mid-body) is retried later. Meanwhile the agent's next checkin may have gone to
 * another replica and been written. The late write would then put the older status (message,
 * components, action_seq_no) back over the newer one, and it would stay until the agent's next
 * checkin. Such a write is superseded and skipped. `last_checkin` is written only by checkins and
 * has one-second resolution, so a write of the same second is still applied (last flush wins).
 */
export function supersededStatusWrite(stored: Pick<AgentDoc, 'last_checkin'>, fields: Partial<AgentDoc>): boolean {
  if (!fields.last_checkin || !stored.last_checkin) return false;
  return Date.parse(stored.last_checkin) > Date.parse(fields.last_checkin);
}
