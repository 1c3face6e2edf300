import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { JobsService } from '../../core/jobs/jobs.service';
import type { ExpectedJob } from '../../core/jobs/job.types';
import { IMPORT_QUEUE } from './contacts-import.service';

/**
 * A failed attempt leaves an import 'failed' while its retry waits in the queue; a lost queue
 * loses that retry. Imports that failed this recently are re-run if their job is gone; older
 * ones stay failed (they can be reverted).
 */
const RETRY_WINDOW = '1 hour';
/** How long an upload may take before it counts as abandoned (the largest files stage in minutes). */
const ABANDONED_UPLOAD = '1 hour';

/**
 * Uploads abandoned half-staged are removed. Imports whose job the queue lost (Redis restarted without its data; an embedded process
 * stopped with the job in memory) are enqueued again under the same job id. The job resumes
 * from the import's checkpoint, so nothing is applied twice.
 */
@Injectable()
export class ContactsImportRecovery implements OnModuleInit {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly jobs: JobsService,
  ) {}

  onModuleInit(): void {
    this.jobs.recoverWith(IMPORT_QUEUE, () => this.unfinished());
  }

  async unfinished(): Promise<Array<ExpectedJob<{ importId: string }>>> {
    // An upload still staging an hour on stopped with the process that read it: nothing will finish it.
    await this.dataSource.query(`DELETE FROM contact_imports WHERE status = 'uploading' AND created_at < now() - interval '${ABANDONED_UPLOAD}'`);
    const rows: Array<{ id: string; status: string }> = await this.dataSource.query(
      `SELECT id, status FROM contact_imports
        WHERE status IN ('queued', 'running') OR (status = 'failed' AND updated_at > now() - interval '${RETRY_WINDOW}')
        ORDER BY created_at`,
    );
    return rows.map((row) => ({ jobId: `import-${row.id}`, payload: { importId: row.id }, lostOnly: row.status === 'failed' }));
  }
}
