import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A contact in a static segment. Written set-based (see segments.queries.ts); the entity documents the table. */
@Entity({ name: 'segment_members' })
export class SegmentMember {
  @PrimaryColumn({ type: 'uuid' })
  segmentId: string;

  @PrimaryColumn({ type: 'uuid' })
  contactId: string;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  addedAt: Date;

  @Column({ type: 'uuid', nullable: true })
  addedById: string | null;
}
