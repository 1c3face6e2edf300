import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createTransport, Transporter } from 'nodemailer';
import { DataSource } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import { containsPattern, Page, pageWindow, parseSort, toPage } from '../http/pagination';
import type { OutboxQueryDto } from './dto/outbox.dto';
import { MailOutboxMessage } from './mail-outbox.entity';

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  /** What kind of message this is (`password-reset`, `invite`, …), for the outbox list. */
  template: string;
}

const DELIVERED_BODY = '[delivered over SMTP; the body is not kept]';

/**
 * Sends mail over SMTP when SMTP_URL is set. Without it, each message is kept in the
 * outbox table (readable by admins through the API) and written to the log, so a
 * developer can follow reset and invitation links on a laptop.
 */
@Injectable()
export class MailService implements OnApplicationShutdown {
  private readonly logger = new Logger('Mail');
  private readonly transport?: Transporter;

  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
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

  async listOutbox(query: OutboxQueryDto): Promise<Page<MailOutboxMessage>> {
    const window = pageWindow(query, this.config.pagination.maxLimit);
    const sort = parseSort(query.sort, { createdAt: 'm.createdAt', toAddress: 'm.toAddress', subject: 'm.subject' }, [['m.createdAt', 'DESC']]);
    const builder = this.dataSource.getRepository(MailOutboxMessage).createQueryBuilder('m');
    if (query.to) builder.andWhere('lower(m.to_address) = lower(:to)', { to: query.to });
    if (query.status) builder.andWhere('m.status = :status', { status: query.status });
    if (query.q) builder.andWhere('(m.subject ILIKE :q OR m.to_address ILIKE :q)', { q: containsPattern(query.q) });
    for (const [expression, direction] of sort) builder.addOrderBy(expression, direction);
    const [rows, total] = await builder.addOrderBy('m.id').skip(window.offset).take(window.limit).getManyAndCount();
    return toPage(rows, total, window);
  }
}
