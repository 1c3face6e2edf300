import { Module, OnModuleInit } from '@nestjs/common';
import { SubjectRegistry } from '../../core/access/subject-registry';
import { SegmentsController } from './segments.controller';
import { SegmentsService } from './segments.service';
import { SEGMENT_SUBJECTS } from './segments.subjects';

/** Segments (feature `segments`, needs `contacts`): static member lists and dynamic rules over contacts. */
@Module({ controllers: [SegmentsController], providers: [SegmentsService], exports: [SegmentsService] })
export class SegmentsModule implements OnModuleInit {
  constructor(private readonly subjects: SubjectRegistry) {}

  onModuleInit(): void {
    this.subjects.register(...SEGMENT_SUBJECTS);
  }
}
