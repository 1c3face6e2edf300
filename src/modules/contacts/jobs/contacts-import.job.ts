import type { JobDefinition } from '../../../core/jobs/job.types';
import { ContactsImportService, IMPORT_QUEUE } from '../contacts-import.service';

/** Runs one import to the end; resumable, so retries and takeovers by another worker are safe. */
export function contactsImportJob(imports: ContactsImportService): JobDefinition<{ importId: string }> {
  return {
    queue: IMPORT_QUEUE,
    feature: 'contacts',
    concurrency: 2,
    attempts: 5,
    backoffMs: 2000,
    // A killed worker's import is resumed by another one within seconds, from its checkpoint.
    lockMs: 10_000,
    maxTakeovers: 20,
    handle: (payload, context) => imports.process(payload.importId, context),
  };
}
