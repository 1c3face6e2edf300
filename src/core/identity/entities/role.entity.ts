import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { StoredRule } from '../../access/rule.types';

export type SystemRoleKey = 'admin' | 'staff' | 'client';
export type RoleAudience = 'staff' | 'client';

@Entity({ name: 'roles' })
export class Role {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** Set for the three built-in roles, which cannot be deleted. */
  @Column({ type: 'text', nullable: true })
  systemKey: SystemRoleKey | null;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text', default: '' })
  description: string;

  /** Whether holders of this role use the back office (staff) or the client portal (client). */
  @Column({ type: 'text' })
  audience: RoleAudience;

  /** Extra CASL rules; system roles also have built-in rules that cannot be removed. */
  @Column({ type: 'jsonb', default: () => "'[]'::jsonb" })
  rules: StoredRule[];

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
