import { Module, OnModuleInit } from '@nestjs/common';
import { SubjectRegistry } from '../../core/access/subject-registry';
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
  ) {}

  onModuleInit(): void {
    this.subjects.register(...SEGMENT_SUBJECTS);
    // A static segment's members are someone's choice: an import's revert leaves them in place.
    this.contactReferences.register((contactId) => `EXISTS (SELECT 1 FROM segment_members m WHERE m.contact_id = ${contactId})`);
  }
}
