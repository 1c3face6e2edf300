import { Global, Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { ThrottlerModule, ThrottlerStorageService } from '@nestjs/throttler';
import { AppConfig } from '../../config/app-config';
import { REDIS, OptionalRedis } from '../redis/redis.module';
import { AccessTokenVerifier } from './access-token.verifier';
import { AuthThrottlerGuard, PER_ACCOUNT_SUFFIX } from './auth-throttler.guard';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { JwtAuthGuard } from './jwt-auth.guard';
import { PasswordTokensService } from './password-tokens.service';
import { PasswordService } from './password.service';
import { RedisThrottlerStorage } from './redis-throttler.storage';
import { TokenService } from './token.service';

@Global()
@Module({
  imports: [
    JwtModule.registerAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({ secret: config.auth.jwtSecret, signOptions: { algorithm: 'HS256' } }),
    }),
    ThrottlerModule.forRootAsync({
      inject: [AppConfig, REDIS],
      useFactory: (config: AppConfig, redis: OptionalRedis) => ({
        throttlers: [
          { name: 'login', ttl: config.throttle.windowSeconds * 1000, limit: config.throttle.loginLimit },
          { name: `login${PER_ACCOUNT_SUFFIX}`, ttl: config.throttle.windowSeconds * 1000, limit: config.throttle.loginLimit * 5 },
          { name: 'forgot', ttl: config.throttle.windowSeconds * 1000, limit: config.throttle.forgotPasswordLimit },
          { name: `forgot${PER_ACCOUNT_SUFFIX}`, ttl: config.throttle.windowSeconds * 1000, limit: config.throttle.forgotPasswordLimit * 5 },
        ],
        // Shared counters across API processes when Redis is there; per process otherwise.
        storage: redis ? new RedisThrottlerStorage(redis) : new ThrottlerStorageService(),
      }),
    }),
  ],
  controllers: [AuthController],
  providers: [AuthService, TokenService, PasswordService, PasswordTokensService, AccessTokenVerifier, JwtAuthGuard, AuthThrottlerGuard],
  exports: [PasswordService, PasswordTokensService, JwtAuthGuard, TokenService],
})
export class AuthModule {}
