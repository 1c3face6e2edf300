import { Module, OnModuleInit } from '@nestjs/common';
import { SubjectRegistry } from '../../core/access/subject-registry';
import { RolesController } from './roles.controller';
import { RolesService } from './roles.service';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';
import { USER_SUBJECTS } from './users.subjects';

/** Users and roles administration (feature `users`). */
@Module({ controllers: [UsersController, RolesController], providers: [UsersService, RolesService], exports: [UsersService] })
export class UsersModule implements OnModuleInit {
  constructor(private readonly subjects: SubjectRegistry) {}

  onModuleInit(): void {
    this.subjects.register(...USER_SUBJECTS);
  }
}
