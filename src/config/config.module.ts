import { Global, Module } from '@nestjs/common';
import { ConfigModule as NestConfigModule } from '@nestjs/config';
import { AppConfig } from './app-config';
import { validateEnvironment } from './environment';

/** Loads `.env`, validates every variable once, and provides the typed {@link AppConfig}. */
@Global()
@Module({
  imports: [NestConfigModule.forRoot({ cache: true, ignoreEnvFile: process.env.NODE_ENV === 'test', validate: validateEnvironment })],
  providers: [{ provide: AppConfig, useFactory: () => new AppConfig(validateEnvironment(process.env)) }],
  exports: [AppConfig],
})
export class ConfigModule {}
