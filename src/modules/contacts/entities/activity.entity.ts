import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export const ACTIVITY_TYPES = ['call', 'email', 'meeting', 'note', 'sms', 'task'] as const;
export type ActivityType = (typeof ACTIVITY_TYPES)[number];

/** A logged interaction with a contact. */
@Entity({ name: 'activities' })
export class Activity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  contactId: string;

  @Column({ type: 'text' })
  type: ActivityType;

  @Column({ type: 'text', default: '' })
  subject: string;

  @Column({ type: 'text', default: '' })
  body: string;

  @Column({ type: 'timestamptz' })
  occurredAt: Date;

  @Column({ type: 'uuid', nullable: true })
  authorId: string | null;

  /** Shown on the client's own timeline in the portal. */
  @Column({ type: 'boolean', default: false })
  visibleToClient: boolean;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
