import { Global, Module, OnModuleInit } from '@nestjs/common';
import { SubjectRegistry } from '../../core/access/subject-registry';
import { JobsService } from '../../core/jobs/jobs.service';
import { AccountReferences } from '../../core/identity/account-references';
import { ContactDirectory } from '../../core/identity/contact-directory';
import { ActivitiesController } from './activities.controller';
import { ActivitiesService } from './activities.service';
import { ContactDirectoryService } from './contact-directory.service';
import { ContactReferences } from './contact-references';
import { ContactsExportController } from './contacts-export.controller';
import { ContactsImportController } from './contacts-import.controller';
import { ContactsImportRecovery } from './contacts-import.recovery';
import { ContactsImportService } from './contacts-import.service';
import { ContactsExportService } from './contacts-export.service';
import { ContactsController } from './contacts.controller';
import { ContactsService } from './contacts.service';
import { CONTACT_SUBJECTS } from './contacts.subjects';
import { CustomFieldsController } from './custom-fields.controller';
import { CustomFieldsService } from './custom-fields.service';
import { contactsImportJob } from './jobs/contacts-import.job';
import { ContactListTotals } from './list-totals';
import { LookupsService } from './lookups.service';
import { ServiceOfferingsController } from './service-offerings.controller';
import { StatusesController } from './statuses.controller';
import { TagsController } from './tags.controller';
import { TrafficSourcesController } from './traffic-sources.controller';

/**
 * Contacts (feature `contacts`): contacts, their lists, activities and custom fields.
 * Global because core's registration and account code reaches contacts through the
 * {@link ContactDirectory} port this module provides.
 */
@Global()
@Module({
  controllers: [
    ContactsController,
    ContactsExportController,
    ContactsImportController,
    ActivitiesController,
    CustomFieldsController,
    StatusesController,
    TagsController,
    ServiceOfferingsController,
    TrafficSourcesController,
  ],
  providers: [
    ContactsService,
    ContactsExportService,
    ContactsImportService,
    ContactsImportRecovery,
    ActivitiesService,
    CustomFieldsService,
    LookupsService,
    ContactDirectoryService,
    ContactListTotals,
    ContactReferences,
    { provide: ContactDirectory, useExisting: ContactDirectoryService },
  ],
  exports: [ActivitiesService, ContactDirectory, ContactReferences, ContactsService, CustomFieldsService, LookupsService],
})
export class ContactsModule implements OnModuleInit {
  constructor(
    private readonly subjects: SubjectRegistry,
    private readonly jobs: JobsService,
    private readonly imports: ContactsImportService,
    private readonly accountReferences: AccountReferences,
  ) {}

  onModuleInit(): void {
    this.subjects.register(...CONTACT_SUBJECTS);
    this.jobs.define(contactsImportJob(this.imports));
    // A chunk holds its import, then its importer and contacts: an importer's deletion takes the import first.
    this.accountReferences.register('contact_imports', 'created_by_id = $1 OR started_by_id = $1');
  }
}
