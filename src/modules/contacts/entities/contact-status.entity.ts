import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export const CONTACT_STAGES = ['lead', 'prospect', 'customer', 'other'] as const;
export type ContactStage = (typeof CONTACT_STAGES)[number];

/** SQL placing a stage column in the funnel's order (lead first), for sorting. */
export const stageOrderSql = (column: string): string => `array_position(ARRAY[${CONTACT_STAGES.map((stage) => `'${stage}'`).join(', ')}], ${column})`;

@Entity({ name: 'contact_statuses' })
export class ContactStatus {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'text' })
  name: string;

  /** What analytics counts this status as. */
  @Column({ type: 'text' })
  stage: ContactStage;

  @Column({ type: 'integer', default: 0 })
  position: number;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
