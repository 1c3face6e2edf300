import { Global, Module, OnModuleInit } from '@nestjs/common';
import { SubjectRegistry } from '../../core/access/subject-registry';
import { ContactDirectory } from '../../core/identity/contact-directory';
import { ContactDirectoryService } from './contact-directory.service';
import { CONTACT_SUBJECTS } from './contacts.subjects';

/**
 * Contacts (feature `contacts`). Global because core's registration and account code
 * reaches contacts through the {@link ContactDirectory} port this module provides.
 */
@Global()
@Module({
  providers: [ContactDirectoryService, { provide: ContactDirectory, useExisting: ContactDirectoryService }],
  exports: [ContactDirectory],
})
export class ContactsModule implements OnModuleInit {
  constructor(private readonly subjects: SubjectRegistry) {}

  onModuleInit(): void {
    this.subjects.register(...CONTACT_SUBJECTS);
  }
}
