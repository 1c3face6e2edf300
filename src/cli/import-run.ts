import { NotFoundException } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { createWriteStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { pipeline } from 'node:stream/promises';
import { DataSource } from 'typeorm';
import { FeaturesService } from '../core/features/features.service';
import { flattenValidationErrors, RequestValidationError } from '../core/http/validation';
import type { AuthUser } from '../core/identity/auth-user';
import { IdentityService } from '../core/identity/identity.service';
import { JobsService } from '../core/jobs/jobs.service';
import { ContactsImportService, IMPORT_QUEUE } from '../modules/contacts/contacts-import.service';
import { DryRunDto, ImportDto, ImportMode, ImportSettingsDto } from '../modules/contacts/dto/import.dto';
import { bootApplication, CliApplication } from './app-context';
import { CliError, describeError, EXIT, FieldNamer, UsageError } from './cli-errors';
import type { CliIo } from './command';
import { ImportOptions, MODES } from './import-options';
import { formatCount, formatDuration, ProgressReporter, ProgressSnapshot } from './progress';

/** Boots the application, runs the import (or follows a resumed one) and closes it again. */
export async function runImport(options: ImportOptions, handle: FileHandle | undefined, io: CliIo): Promise<number> {
  const context = await bootApplication();
  const run = new ImportRun(context, io, options);
  try {
    return await run.execute(handle);
  } finally {
    if (!run.leftRunning) await context.app.close();
  }
}

class ImportRun {
  /** True when the import still runs in this process and closing would wait for it. */
  leftRunning = false;
  private readonly imports: ContactsImportService;
  private readonly jobs: JobsService;
  private readonly out: NodeJS.WriteStream;

  constructor(
    private readonly context: CliApplication,
    private readonly io: CliIo,
    private readonly options: ImportOptions,
  ) {
    this.imports = context.app.get(ContactsImportService);
    this.jobs = context.app.get(JobsService);
    this.out = io.out;
  }

  async execute(handle?: FileHandle): Promise<number> {
    if (!this.context.app.get(FeaturesService).isEnabled('contacts')) {
      throw new CliError('the contacts feature is switched off: switch it on (PATCH /api/v1/features/contacts) before importing', EXIT.usage);
    }
    const actor = await this.actor();
    this.out.write(`Acting as ${actor.email} (admin)\n`);
    if (this.options.resume) return this.resume(actor, this.options.resume);
    return this.importFile(actor, handle!);
  }

  private async importFile(actor: AuthUser, handle: FileHandle): Promise<number> {
    const mappingId = this.options.mapping ? await this.savedMappingId(this.options.mapping) : undefined;
    const file = this.options.file!;
    this.out.write(`Reading ${file}…\n`);
    const readStarted = Date.now();
    const stream = handle.createReadStream({ autoClose: false });
    // Ctrl-C while reading fails the upload, and the service then drops what it staged.
    const onSignal = () => stream.destroy(new CliError('stopped while reading the file; nothing was imported', EXIT.interrupted));
    // The reader sees the error through its iteration; this keeps it from also being an uncaught 'error' event.
    stream.on('error', () => undefined);
    process.once('SIGINT', onSignal);
    const uploaded = await this.imports
      .upload(actor, basename(file), stream, mappingId)
      .catch((error) => {
        throw reword(error, (field) => (field === 'file' ? file : field === 'mappingId' ? '--mapping' : field));
      })
      .finally(() => process.off('SIGINT', onSignal));
    this.out.write(`Read ${formatCount(uploaded.totalRows)} rows in ${formatDuration(Date.now() - readStarted)} (import ${uploaded.id})\n\n`);
    try {
      const columns = this.applyOverrides(uploaded);
      const nameField: FieldNamer = (field) => {
        const match = /^columns\.(\d+)(?:\.(\w+))?$/.exec(field);
        const column = match ? columns[Number(match[1])] : undefined;
        if (column) return `column ${column.index + 1} "${column.header}"`;
        return field === 'columns' ? 'mapping' : field === 'mode' ? '--mode' : field;
      };
      this.printMapping(uploaded, columns);
      const settings = await checkedSettings(columns, this.options.mode!).catch((error) => {
        throw reword(error, nameField);
      });
      await this.imports.configure(actor, uploaded.id, settings).catch((error) => {
        throw reword(error, nameField);
      });
      if (this.options.dryRun) {
        this.printDryRun(await this.imports.dryRun(actor, uploaded.id), uploaded.totalRows);
        await this.discard(uploaded.id);
        return EXIT.ok;
      }
      const answer = this.options.yes ? 'yes' : await this.confirm(`Import ${formatCount(uploaded.totalRows)} rows in mode ${this.options.mode}? [y/N] `);
      if (answer !== 'yes') {
        await this.discard(uploaded.id);
        this.out.write('\nNothing was imported.\n');
        return answer === 'interrupted' ? EXIT.interrupted : EXIT.failed;
      }
    } catch (error) {
      await this.discard(uploaded.id).catch(() => undefined);
      throw error;
    }
    await this.imports.start(actor, uploaded.id);
    return this.follow(uploaded.id);
  }

  private async resume(actor: AuthUser, id: string): Promise<number> {
    const current = await this.imports.get(id).catch((error) => {
      throw error instanceof NotFoundException ? new UsageError(`--resume ${id}: there is no import with this id`) : error;
    });
    this.out.write(`Import ${id} (${current.fileName}) is ${current.status}: ${formatCount(current.processedRows)}/${formatCount(current.totalRows)} rows\n`);
    if (current.status === 'completed') return this.report(current, undefined);
    if (ENDED_FOR_GOOD.includes(current.status)) throw new CliError(`the import was ${endedAs(current.status)}; there is nothing to resume`);
    if (current.status === 'uploaded') {
      if (!current.mode) throw new CliError('the import was uploaded but never configured; import the file again', EXIT.usage);
      await this.imports.start(actor, id);
    } else {
      await this.restartJob(id);
    }
    return this.follow(id);
  }

  /** Puts the import's job back: retried if it failed for good, re-queued if no queue holds it (it resumes from the checkpoint). */
  private async restartJob(id: string): Promise<void> {
    const jobId = `import-${id}`;
    try {
      await this.jobs.retry(IMPORT_QUEUE, jobId);
      this.out.write('Its job had failed; retrying it from the last checkpoint.\n');
    } catch (error) {
      if (!(error instanceof NotFoundException)) throw error;
      // Same job id: a job the workers still hold is not queued twice.
      await this.jobs.enqueue(IMPORT_QUEUE, { importId: id }, { jobId });
    }
  }

  /** Waits for the import to end, showing its progress; Ctrl-C stops waiting. */
  private async follow(id: string): Promise<number> {
    const reporter = new ProgressReporter(this.out, { tty: Boolean(this.out.isTTY), intervalMs: this.options.progressEveryMs });
    const began = Date.now();
    let stop: (() => void) | undefined;
    let interrupted = false;
    const onSignal = () => {
      // A second Ctrl-C does not wait for the goodbye either.
      if (interrupted) process.exit(EXIT.interrupted);
      interrupted = true;
      stop?.();
    };
    // The embedded database runs its statements on this thread and can hold it for a whole chunk:
    // a handler would only run afterwards, so Ctrl-C keeps its default, immediate effect there.
    const catchSignals = !(this.context.jobsRunHere && this.context.config.database.kind === 'pglite');
    if (catchSignals) {
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    const jobId = `import-${id}`;
    try {
      this.out.write(
        this.context.jobsRunHere
          ? `Running the import in this process (no REDIS_URL); stopping this command stops it, and it continues with: npm run cli -- import --resume ${id}\n`
          : 'Queued for the workers (REDIS_URL); following its progress…\n',
      );
      let firstProcessed: number | undefined;
      for (;;) {
        const current = await this.imports.get(id);
        firstProcessed ??= current.processedRows;
        const snapshot: ProgressSnapshot = { status: current.status, processed: current.processedRows, total: current.totalRows, counts: current.counts };
        if (current.status === 'queued' && !this.context.jobsRunHere && Date.now() - began > 10_000) snapshot.note = 'queued, waiting for a worker';
        let failedForGood = false;
        if (current.status === 'failed') {
          failedForGood = (await this.jobs.failed(IMPORT_QUEUE, 1, 100)).some((job) => job.id === jobId);
          if (!failedForGood) snapshot.note = 'retrying after an error';
        }
        if (current.status === 'completed' || failedForGood || ENDED_FOR_GOOD.includes(current.status)) {
          reporter.finish(snapshot);
          if (current.status === 'completed') return this.report(current, { began, fromRow: firstProcessed ?? 0 });
          if (failedForGood) {
            throw new CliError(
              `import ${id} failed after ${formatCount(current.processedRows)} of ${formatCount(current.totalRows)} rows: ${current.error ?? 'unknown error'}\n` +
                `fix the cause, then continue from the last checkpoint with: npm run cli -- import --resume ${id}`,
            );
          }
          throw new CliError(`import ${id} was ${endedAs(current.status)} while it ran`);
        }
        reporter.update(snapshot);
        if (interrupted) return this.interrupted(reporter, id);
        await new Promise<void>((done) => {
          const timer = setTimeout(done, this.out.isTTY ? 250 : Math.min(500, this.options.progressEveryMs));
          stop = () => {
            clearTimeout(timer);
            done();
          };
        });
        stop = undefined;
        if (interrupted) return this.interrupted(reporter, id);
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }

  private async interrupted(reporter: ProgressReporter, id: string): Promise<number> {
    const current = await this.imports.get(id);
    const snapshot: ProgressSnapshot = { status: current.status, processed: current.processedRows, total: current.totalRows, counts: current.counts };
    reporter.finish(snapshot);
    if (this.context.jobsRunHere) {
      // Closing would wait for the job; leaving drops the open chunk, which the database rolls back.
      this.leftRunning = true;
      this.out.write(
        `\nStopped. The import ran in this process, so it stops with it; the rows already committed ` +
          `(${formatCount(snapshot.processed)} of ${formatCount(snapshot.total)}) stay imported.\n` +
          `Continue from there with: npm run cli -- import --resume ${id}\n`,
      );
    } else {
      this.out.write(
        `\nStopped waiting. The import goes on in the worker processes.\n` +
          `Follow it with: npm run cli -- import --resume ${id}   (or GET /api/v1/contacts/imports/${id})\n`,
      );
    }
    return EXIT.interrupted;
  }

  /** The final counts; `followed` says since when and from which row this command watched it run. */
  private async report(current: ImportDto, followed: { began: number; fromRow: number } | undefined): Promise<number> {
    const { created, updated, skipped, failed } = current.counts;
    const elapsed = followed ? Math.max(1, Date.now() - followed.began) : 0;
    const rows = current.processedRows - (followed?.fromRow ?? 0);
    const took = followed ? ` in ${formatDuration(elapsed)}${rows > 0 ? ` (${formatCount(Math.round((rows * 1000) / elapsed))} rows/s)` : ''}` : '';
    this.out.write(`\nImport ${current.id} completed${took}: ${formatCount(current.totalRows)} rows\n`);
    this.out.write(table([
      ['created', formatCount(created)],
      ['updated', formatCount(updated)],
      ['skipped', formatCount(skipped)],
      ['rejected', formatCount(failed)],
    ]));
    if (this.options.rejected) {
      await pipeline(await this.imports.rejectedCsv(current.id), createWriteStream(this.options.rejected));
      this.out.write(`Rejected rows (${formatCount(failed)}) written to ${this.options.rejected}\n`);
    } else if (failed) {
      this.out.write(`${formatCount(failed)} rows were rejected; get them with their reasons: npm run cli -- import --resume ${current.id} --rejected <out.csv>\n`);
    }
    return EXIT.ok;
  }

  private applyOverrides(uploaded: ImportDto): ImportDto['columns'] {
    const columns = uploaded.columns.map((column) => ({ ...column }));
    for (const override of this.options.overrides) {
      const key = override.header.toLowerCase();
      const column = columns.find((c) => c.header.toLowerCase() === key) ?? (/^#\d+$/.test(override.header) ? columns[Number(override.header.slice(1)) - 1] : undefined);
      if (!column) {
        throw new UsageError(`--map "${override.raw}": the file has no column "${override.header}" (its columns: ${uploaded.headers.map((h) => `"${h}"`).join(', ')})`);
      }
      column.target = override.target;
    }
    return columns;
  }

  private printMapping(uploaded: ImportDto, columns: ImportDto['columns']): void {
    const overridden = new Set(this.options.overrides.map((o) => o.header.toLowerCase()));
    const rows = columns.map((column) => [
      String(column.index + 1),
      column.header || '(no header)',
      column.target === 'ignore' ? '(ignored)' : column.target + (overridden.has(column.header.toLowerCase()) || overridden.has(`#${column.index + 1}`) ? ' (--map)' : ''),
      truncate(uploaded.sample[0]?.[column.index] ?? '', 30),
    ]);
    this.out.write(`Mapping${this.options.mapping ? ` (saved mapping "${this.options.mapping}")` : ' (proposed; change it with --map "Header=target")'}:\n`);
    this.out.write(table([['#', 'Column', 'Imported as', 'First row'], ...rows], '  '));
    this.out.write(`Mode: ${this.options.mode} — ${MODES[this.options.mode!]}\n\n`);
  }

  private printDryRun(result: DryRunDto, total: number): void {
    this.out.write(`Dry run of ${formatCount(total)} rows (nothing was written):\n`);
    this.out.write(
      table([
        ['would create', formatCount(result.counts.created)],
        ['would update', formatCount(result.counts.updated)],
        ['would skip', formatCount(result.counts.skipped)],
        ['would reject', formatCount(result.counts.failed) + (result.duplicates ? ` (${formatCount(result.duplicates)} repeat an earlier row's email)` : '')],
      ]),
    );
    if (result.samples.length) {
      this.out.write('Sample reasons:\n');
      for (const sample of result.samples.slice(0, 10)) this.out.write(`  row ${sample.row}: ${sample.reason}\n`);
    }
  }

  /** The acting admin: --as, or the first active admin. */
  private async actor(): Promise<AuthUser> {
    const db = this.context.app.get(DataSource);
    const identity = this.context.app.get(IdentityService);
    const email = this.options.as;
    const rows: Array<{ id: string; token_version: number; is_active: boolean }> = email
      ? await db.query('SELECT id, token_version, is_active FROM users WHERE email_key = lower($1)', [email.trim()])
      : await db.query(
          `SELECT u.id, u.token_version, u.is_active FROM users u JOIN user_roles ur ON ur.user_id = u.id JOIN roles r ON r.id = ur.role_id
            WHERE r.system_key = 'admin' AND u.is_active ORDER BY u.created_at, u.id LIMIT 1`,
        );
    const row = rows[0];
    if (!row) {
      throw email
        ? new UsageError(`--as ${email}: there is no user with this email`)
        : new CliError('there is no active admin to act as: register the first account (it becomes the admin), or pass --as <admin email>', EXIT.usage);
    }
    if (!row.is_active) throw new UsageError(`--as ${email}: this account is deactivated`);
    const user = await identity.loadAuthUser(row.id, row.token_version);
    if (!user) throw new UsageError(`--as ${email}: this account cannot sign in`);
    if (!user.isAdmin) {
      throw new UsageError(`--as ${email}: ${user.email} is not an admin (roles: ${user.roles.map((role) => role.name).join(', ') || 'none'}); command-line imports act as an admin`);
    }
    return user;
  }

  private async savedMappingId(wanted: string): Promise<string> {
    const saved = await this.imports.savedMappings();
    const found = saved.find((mapping) => mapping.id === wanted) ?? saved.find((mapping) => mapping.name.toLowerCase() === wanted.trim().toLowerCase());
    if (!found) {
      throw new UsageError(`--mapping "${wanted}": no saved mapping has this name or id (saved: ${saved.length ? saved.map((mapping) => `"${mapping.name}"`).join(', ') : 'none'})`);
    }
    return found.id;
  }

  /**
   * Drops an upload that will not run (dry run, declined, refused settings), with its staged
   * rows. The service has no discard, so this removes the row it created, only while unstarted.
   */
  private async discard(id: string): Promise<void> {
    await this.imports.discardUploaded(id);
  }

  private async confirm(question: string): Promise<'yes' | 'no' | 'interrupted'> {
    const prompt = createInterface({ input: this.io.stdin, output: this.out });
    const abort = new AbortController();
    // The terminal is in raw mode while asking: Ctrl-C arrives here, not as a process signal.
    prompt.once('SIGINT', () => abort.abort());
    try {
      const answer = await prompt.question(question, { signal: abort.signal });
      return /^y(es)?$/i.test(answer.trim()) ? 'yes' : 'no';
    } catch (error) {
      if (abort.signal.aborted) return 'interrupted';
      throw error;
    } finally {
      prompt.close();
    }
  }
}

/** Validates the settings with the API's own DTO rules, so a bad --map target reads as it would there. */
async function checkedSettings(columns: ImportDto['columns'], mode: ImportMode): Promise<ImportSettingsDto> {
  const settings = plainToInstance(ImportSettingsDto, { columns, mode });
  const errors = await validate(settings, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  if (errors.length) throw new RequestValidationError(flattenValidationErrors(errors));
  return settings;
}

/** Turns the service's field errors into lines naming what the user typed. */
/** Statuses after which an import never runs again, whatever its job does. */
const ENDED_FOR_GOOD = ['cancelled', 'reverting', 'reverted'];

function endedAs(status: string): string {
  return status === 'reverting' ? 'being reverted' : status;
}

function reword(error: unknown, nameField: FieldNamer): unknown {
  const described = describeError(error, nameField);
  return described.fault ? error : new CliError(described.lines.join('\n'), described.exitCode);
}

function truncate(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function table(rows: string[][], indent = '  '): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows.map((row) => indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]! + 2))).join('').trimEnd() + '\n').join('');
}
