import { Global, Module, OnModuleInit } from '@nestjs/common';
import { AbilityFactory } from './ability.factory';
import { SubjectRegistry } from './subject-registry';

/** Subjects that belong to the platform itself. */
@Global()
@Module({ providers: [SubjectRegistry, AbilityFactory], exports: [SubjectRegistry, AbilityFactory] })
export class AccessModule implements OnModuleInit {
  constructor(private readonly subjects: SubjectRegistry) {}

  onModuleInit(): void {
    this.subjects.register(
      {
        name: 'Feature',
        description: 'Module switches of this deployment.',
        fields: { key: { column: '{alias}.key', type: 'string' }, enabled: { column: '{alias}.enabled', type: 'boolean' } },
        systemRules: { staff: [{ action: 'read', subject: 'Feature' }], client: [{ action: 'read', subject: 'Feature' }] },
      },
      {
        name: 'MailOutbox',
        description: 'Mail the service sent or logged.',
        fields: { toAddress: { column: '{alias}.to_address', type: 'string' }, template: { column: '{alias}.template', type: 'string' } },
      },
      {
        name: 'AuditLog',
        description: 'Who changed what and when.',
        fields: { actorId: { column: '{alias}.actor_id', type: 'uuid' }, subjectType: { column: '{alias}.subject_type', type: 'string' } },
      },
    );
  }
}
