import { Module, OnModuleInit } from '@nestjs/common';
import { SubjectRegistry } from '../../core/access/subject-registry';
import { PortalController } from './portal.controller';
import { PortalService } from './portal.service';
import { PortalSectionsRegistry } from './portal-sections';
import { PORTAL_SUBJECTS } from './portal.subjects';

/**
 * The client portal (feature `client-portal`): a client's dashboard, details and timeline.
 * Business modules add their dashboard sections through the exported {@link PortalSectionsRegistry}.
 */
@Module({ controllers: [PortalController], providers: [PortalService, PortalSectionsRegistry], exports: [PortalSectionsRegistry] })
export class ClientPortalModule implements OnModuleInit {
  constructor(private readonly subjects: SubjectRegistry) {}

  onModuleInit(): void {
    this.subjects.register(...PORTAL_SUBJECTS);
  }
}
