import type Database from 'better-sqlite3';
import type { AgentDoc, Hit, PolicyRevisionDoc } from '../documents';
import type { RolloutCounts, RolloutStore } from '../rollout-store';
import { policyRevisionDocId } from '../secrets';

type Row = { id: string; seq_no: number; doc: string };
type Counts = { targeted: number; acknowledged: number | null; failed: number | null };

const parse = <T>(row: Row): Hit<T> => ({ _id: row.id, _seq_no: row.seq_no, _source: JSON.parse(row.doc) as T });

// The expressions both policy statements share (fixed text; every value is a bound parameter).
const REVISION = "COALESCE(json_extract(doc, '$.policy_revision_idx'), -1)";
const REPORTS_ERROR = "lower(COALESCE(json_extract(doc, '$.last_checkin_status'), '')) = 'error'";
const SILENT_SINCE = "COALESCE(json_extract(doc, '$.last_checkin'), enrolled_at)";

// An action's targets (every document of it) and, for each, its result: looked up by the result's
// primary key `<action_id>:<agent_id>`, so the cost follows the targets, not targets × results.
const ACTION_TARGETS = `
  WITH t AS (SELECT DISTINCT tg.agent_id AS id FROM actions a JOIN action_targets tg ON tg.seq_no = a.seq_no WHERE a.action_id = @action),
  x AS (SELECT t.id AS id, res.id IS NOT NULL AS answered, COALESCE(json_extract(res.doc, '$.error'), '') AS error
        FROM t LEFT JOIN action_results res ON res.id = @action || ':' || t.id)`;

/**
 * Rollout progress on the embedded store: one aggregate statement for the counts and one bounded
 * statement for the agents behind, over the policy's index (agents) or the action's targets.
 */
export function createSqliteRolloutStore(db: Database.Database, guard: <T>(fn: () => T) => Promise<T>): RolloutStore {
  const revision = db.prepare<[string], Row>('SELECT id, seq_no, doc FROM policy_revisions WHERE id = ?');
  const policyCounts = db.prepare<{ policy: string; revision: number }, Counts>(
    `SELECT COUNT(*) AS targeted,
            SUM(${REVISION} >= @revision) AS acknowledged,
            SUM(${REVISION} < @revision AND ${REPORTS_ERROR}) AS failed
     FROM agents WHERE policy_id = @policy AND active = 1`,
  );
  const policyBehind = db.prepare<{ policy: string; revision: number; limit: number }, Row & { failed: number; message: string | null }>(
    `SELECT id, seq_no, doc, ${REPORTS_ERROR} AS failed, json_extract(doc, '$.last_checkin_message') AS message
     FROM agents WHERE policy_id = @policy AND active = 1 AND ${REVISION} < @revision
     ORDER BY failed DESC, ${SILENT_SINCE} ASC, id ASC LIMIT @limit`,
  );
  const actionCounts = db.prepare<{ action: string }, Counts>(
    `${ACTION_TARGETS}
     SELECT COUNT(*) AS targeted, SUM(x.answered AND x.error = '') AS acknowledged, SUM(x.answered AND x.error != '') AS failed
     FROM x LEFT JOIN agents ag ON ag.id = x.id
     WHERE ag.active = 1 OR x.answered`,
  );
  const actionBehind = db.prepare<{ action: string; limit: number }, Row & { error: string | null }>(
    `${ACTION_TARGETS}
     SELECT ag.id AS id, ag.seq_no AS seq_no, ag.doc AS doc, x.error AS error
     FROM x JOIN agents ag ON ag.id = x.id
     WHERE (NOT x.answered AND ag.active = 1) OR x.error != ''
     ORDER BY x.error != '' DESC, COALESCE(json_extract(ag.doc, '$.last_checkin'), ag.enrolled_at) ASC, ag.id ASC
     LIMIT @limit`,
  );

  const counts = (c: Counts | undefined): Omit<RolloutCounts, 'behind'> => ({
    targeted: c?.targeted ?? 0,
    acknowledged: c?.acknowledged ?? 0,
    failed: c?.failed ?? 0,
  });

  return {
    revision: (policyId, rev) =>
      guard(() => {
        const row = revision.get(policyRevisionDocId(policyId, rev));
        return row ? parse<PolicyRevisionDoc>(row) : undefined;
      }),
    // One read transaction: the counts and the list see the same state.
    policyProgress: ({ policyId, revision: rev, behindLimit }) =>
      guard(() =>
        db.transaction((): RolloutCounts => ({
          ...counts(policyCounts.get({ policy: policyId, revision: rev })),
          behind: policyBehind.all({ policy: policyId, revision: rev, limit: behindLimit }).map((r) => ({
            agent: parse<AgentDoc>(r),
            failed: r.failed === 1,
            ...(r.failed && r.message ? { error: r.message } : {}),
          })),
        }))(),
      ),
    actionProgress: ({ actionId, behindLimit }) =>
      guard(() =>
        db.transaction((): RolloutCounts => ({
          ...counts(actionCounts.get({ action: actionId })),
          behind: actionBehind.all({ action: actionId, limit: behindLimit }).map((r) => ({
            agent: parse<AgentDoc>(r),
            failed: !!r.error,
            ...(r.error ? { error: r.error } : {}),
          })),
        }))(),
      ),
  };
}
