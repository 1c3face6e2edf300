import { Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { ConfigModule } from './config/config.module';
import { AccessModule } from './core/access/access.module';
import { PoliciesGuard } from './core/access/policies.guard';
import { AuditModule } from './core/audit/audit.module';
import { AuthModule } from './core/auth/auth.module';
import { JwtAuthGuard } from './core/auth/jwt-auth.guard';
import { ClusterModule } from './core/cluster/cluster.module';
import { FeatureGuard } from './core/features/feature.guard';
import { FeaturesModule } from './core/features/features.module';
import { HealthModule } from './core/health/health.module';
import { HttpExceptionFilter } from './core/http/http-exception.filter';
import { IdentityModule } from './core/identity/identity.module';
import { JobsModule } from './core/jobs/jobs.module';
import { MailModule } from './core/mail/mail.module';
import { RedisModule } from './core/redis/redis.module';
import { DatabaseModule } from './database/database.module';
import { ClientPortalModule } from './modules/client-portal/client-portal.module';
import { ContactsModule } from './modules/contacts/contacts.module';
import { DashboardModule } from './modules/dashboard/dashboard.module';
import { SegmentsModule } from './modules/segments/segments.module';
import { UsersModule } from './modules/users/users.module';

@Module({
  imports: [
    ConfigModule,
    DiscoveryModule,
    DatabaseModule,
    RedisModule,
    ClusterModule,
    AuditModule,
    AccessModule,
    IdentityModule,
    FeaturesModule,
    JobsModule,
    MailModule,
    AuthModule,
    HealthModule,
    ContactsModule,
    ClientPortalModule,
    SegmentsModule,
    DashboardModule,
    UsersModule,
  ],
  providers: [
    // Order matters: a switched-off module is a 404 before anything asks who you are.
    { provide: APP_GUARD, useExisting: FeatureGuard },
    { provide: APP_GUARD, useExisting: JwtAuthGuard },
    { provide: APP_GUARD, useClass: PoliciesGuard },
    { provide: APP_FILTER, useClass: HttpExceptionFilter },
  ],
})
export class AppModule {}
