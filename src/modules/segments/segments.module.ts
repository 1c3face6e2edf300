import { Module, OnModuleInit } from '@nestjs/common';
import { SubjectRegistry } from '../../core/access/subject-registry';
import { AccountReferences } from '../../core/identity/account-references';
import { ContactReferences } from '../contacts/contact-references';
import { SegmentsController } from './segments.controller';
import { SegmentsService } from './segments.service';
import { SEGMENT_SUBJECTS } from './segments.subjects';

/** Segments (feature `segments`, needs `contacts`): static member lists and dynamic rules over contacts. */
@Module({ controllers: [SegmentsController], providers: [SegmentsService], exports: [SegmentsService] })
export class SegmentsModule implements OnModuleInit {
  constructor(
    private readonly subjects: SubjectRegistry,
    private readonly contactReferences: ContactReferences,
    private readonly accountReferences: AccountReferences,
  ) {}

  onModuleInit(): void {
    this.subjects.register(...SEGMENT_SUBJECTS);
    // A static segment's members are someone's choice: an import's revert leaves them in place.
    this.contactReferences.register((contactId) => `EXISTS (SELECT 1 FROM segment_members m WHERE m.contact_id = ${contactId})`);
    // A member addition holds its segment, then its actor and contacts: a creator's deletion takes the segment first.
    this.accountReferences.register('segments', 'created_by_id = $1');
  }
}
