import type { FleetStore } from '@fleet/store';
import type { JobLogger } from './job-logger';
import type { JobOutcome } from './job-queue';

const BATCH = 100;
const MAX_BATCHES = 100;

/**
 * Uploads an agent began and never finished (still awaiting chunks after their expiry): their
 * chunks are deleted, then the file is marked EXPIRED, so it is never listed as in progress again
 * and nothing partial stays stored. Chunks go first: a crash in between leaves the upload found
 * again by the next run.
 */
export async function expireAbandonedUploads(store: FleetStore, logger: JobLogger, startedBefore: Date): Promise<JobOutcome> {
  let expired = 0;
  let chunks = 0;
  for (let batch = 0; batch < MAX_BATCHES; batch++) {
    const abandoned = await store.uploads.findAbandoned({ startedBefore, limit: BATCH });
    for (const upload of abandoned) {
      chunks += await store.uploads.deleteChunks({ id: upload.id, src: upload.doc.src });
      await store.uploads.setStatus(upload.id, 'EXPIRED');
      expired++;
      logger.info({ upload_id: upload.doc.upload_id, 'fleet.agent.id': upload.doc.agent_id }, 'abandoned upload expired');
    }
    if (abandoned.length < BATCH) break;
  }
  return { expired, chunks };
}
