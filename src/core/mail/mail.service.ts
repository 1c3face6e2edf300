import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createTransport, Transporter } from 'nodemailer';
import { DataSource } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import { abilityToSql } from '../access/ability-to-sql';
import type { AppAbility } from '../access/app-ability';
import { SubjectRegistry } from '../access/subject-registry';
import { containsPattern, Page, pageWindow, parseSort, toPage } from '../http/pagination';
import type { OutboxMessageDto, OutboxQueryDto } from './dto/outbox.dto';
import { MailOutboxMessage } from './mail-outbox.entity';

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  /** What kind of message this is (`password-reset`, `invite`, …), for the outbox list. */
  template: string;
}

const DELIVERED_BODY = '[delivered over SMTP; the body is not kept]';

const OUTBOX_SORTS: Record<string, string> = { createdAt: 'm.created_at', toAddress: 'm.to_address', subject: 'm.subject' };

/** A message as the API shows it. */
const OUTBOX_VIEW_SELECT = `
  SELECT m.id, m.to_address AS "toAddress", m.subject, m.text_body AS "textBody", m.template, m.status, m.error,
         m.created_at AS "createdAt", m.sent_at AS "sentAt"
    FROM mail_outbox m`;

/**
 * Sends mail over SMTP when SMTP_URL is set. Without it, each message is kept in the
 * outbox table (readable through the API, as far as the caller's rules allow) and written
 * to the log, so a developer can follow reset and invitation links on a laptop.
 */
@Injectable()
export class MailService implements OnApplicationShutdown {
  private readonly logger = new Logger('Mail');
  private readonly transport?: Transporter;

  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly subjects: SubjectRegistry,
  ) {
    if (config.mail.smtpUrl) this.transport = createTransport(config.mail.smtpUrl);
  }

  onApplicationShutdown(): void {
    this.transport?.close();
  }

  async send(mail: OutgoingMail): Promise<MailOutboxMessage> {
    const repository = this.dataSource.getRepository(MailOutboxMessage);
    if (!this.transport) {
      const saved = await repository.save(repository.create({ toAddress: mail.to, subject: mail.subject, textBody: mail.text, template: mail.template, status: 'logged', error: null, sentAt: null }));
      const body = this.config.isProduction ? '' : `\n${mail.text}`;
      this.logger.log(`Mail "${mail.subject}" to ${mail.to} kept in the outbox (${saved.id}); set SMTP_URL to deliver it${body}`);
      return saved;
    }
    try {
      await this.transport.sendMail({ from: this.config.mail.from, to: mail.to, subject: mail.subject, text: mail.text });
      return await repository.save(repository.create({ toAddress: mail.to, subject: mail.subject, textBody: DELIVERED_BODY, template: mail.template, status: 'sent', error: null, sentAt: new Date() }));
    } catch (error) {
      this.logger.error(`Mail "${mail.subject}" to ${mail.to} failed: ${(error as Error).message}`);
      return repository.save(repository.create({ toAddress: mail.to, subject: mail.subject, textBody: DELIVERED_BODY, template: mail.template, status: 'failed', error: (error as Error).message.slice(0, 1000), sentAt: null }));
    }
  }

  /**
   * The outbox as the caller may read it. Mail carries reset and invitation tokens, so the
   * read conditions of the caller's rules (e.g. `toAddress: ${user.email}`) are part of the
   * query: the page and its total hold only rows they may read.
   */
  async listOutbox(ability: AppAbility, query: OutboxQueryDto): Promise<Page<OutboxMessageDto>> {
    const window = pageWindow(query, this.config.pagination.maxLimit);
    const sort = parseSort(query.sort, OUTBOX_SORTS, [['m.created_at', 'DESC']]);
    const params: unknown[] = [];
    const p = (value: unknown) => `$${params.push(value)}`;
    const visible = abilityToSql(ability, 'read', 'MailOutbox', this.subjects.get('MailOutbox')!.fields, 'm', params.length + 1);
    params.push(...visible.params);
    const where = [visible.sql];
    if (query.to) where.push(`lower(m.to_address) = lower(${p(query.to)})`);
    if (query.status) where.push(`m.status = ${p(query.status)}`);
    if (query.q) {
      const pattern = p(containsPattern(query.q));
      where.push(`(m.subject ILIKE ${pattern} OR m.to_address ILIKE ${pattern})`);
    }
    const whereSql = `WHERE ${where.join(' AND ')}`;
    const order = sort.map(([expression, direction]) => `${expression} ${direction}`).concat('m.id').join(', ');
    const [rows, [{ total }]] = await Promise.all([
      this.dataSource.query(`${OUTBOX_VIEW_SELECT} ${whereSql} ORDER BY ${order} LIMIT ${window.limit} OFFSET ${window.offset}`, params) as Promise<OutboxMessageDto[]>,
      this.dataSource.query(`SELECT count(*)::int AS total FROM mail_outbox m ${whereSql}`, params) as Promise<Array<{ total: number }>>,
    ]);
    return toPage(rows, total, window);
  }
}
