import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export const CUSTOM_FIELD_TYPES = ['text', 'number', 'decimal', 'boolean', 'date', 'datetime', 'select', 'multi_select', 'email', 'url', 'phone'] as const;
export type CustomFieldType = (typeof CUSTOM_FIELD_TYPES)[number];
/** The types whose values are chosen from the field's options. */
export const CHOICE_FIELD_TYPES: ReadonlySet<string> = new Set<CustomFieldType>(['select', 'multi_select']);

/** An admin-defined contact field; values live in contacts.custom_fields under `key`. */
@Entity({ name: 'custom_fields' })
export class CustomField {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'text' })
  key: string;

  @Column({ type: 'text' })
  label: string;

  @Column({ type: 'text' })
  type: CustomFieldType;

  @Column({ type: 'boolean', default: false })
  required: boolean;

  /** Allowed values of select and multi-select fields. */
  @Column({ type: 'jsonb', default: () => "'[]'::jsonb" })
  options: string[];

  /** Internal fields are never shown to, nor editable by, the client. */
  @Column({ type: 'boolean', default: false })
  internal: boolean;

  @Column({ type: 'integer', default: 0 })
  position: number;

  /** Removed definitions keep their stored values until purged. */
  @Column({ type: 'timestamptz', nullable: true })
  deletedAt: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
