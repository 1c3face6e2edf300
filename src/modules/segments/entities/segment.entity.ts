import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { FilterNode } from '../../contacts/filters/contact-filter.types';

export const SEGMENT_KINDS = ['static', 'dynamic'] as const;
export type SegmentKind = (typeof SEGMENT_KINDS)[number];

/** A group of contacts: static (members listed in segment_members) or dynamic (a rule). */
@Entity({ name: 'segments' })
export class Segment {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** Unique regardless of case (the generated name_key column). */
  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text', default: '' })
  description: string;

  /** Fixed at creation: a static segment's members would mean nothing to a rule. */
  @Column({ type: 'text' })
  kind: SegmentKind;

  /** The contacts rule language; set exactly for dynamic segments (a database check). */
  @Column({ type: 'jsonb', nullable: true })
  rule: FilterNode | null;

  @Column({ type: 'uuid', nullable: true })
  createdById: string | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
