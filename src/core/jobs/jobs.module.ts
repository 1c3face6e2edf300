import { Global, Module, OnModuleInit } from '@nestjs/common';
import { SubjectRegistry } from '../access/subject-registry';
import { JobsController } from './jobs.controller';
import { JobsService } from './jobs.service';

@Global()
@Module({ controllers: [JobsController], providers: [JobsService], exports: [JobsService] })
export class JobsModule implements OnModuleInit {
  constructor(private readonly subjects: SubjectRegistry) {}

  onModuleInit(): void {
    this.subjects.register({ name: 'Job', description: 'Background jobs and their queues; a condition on `queue` limits a rule to those queues.', fields: { queue: { column: '{alias}.queue', type: 'string' } } });
  }
}
