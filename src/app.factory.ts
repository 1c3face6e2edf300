import multipart from '@fastify/multipart';
import { RequestMethod } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { maxHeaderSize } from 'node:http';
import { AppModule } from './app.module';
import { AppConfig } from './config/app-config';
import { NodeEnvironment, validateEnvironment } from './config/environment';
import { FeaturesService } from './core/features/features.service';
import { attachResponseSchemas, ResponseContractCheck, useResponseSerializers } from './core/http/response-serialization';
import { HttpExceptionFilter } from './core/http/http-exception.filter';
import { securityHeaders } from './core/http/security-headers';
import { createValidationPipe, RequestValidationError } from './core/http/validation';
import { createRootLogger, PinoNestLogger } from './core/logging/logger';
import { buildOpenApiDocument, documentForFeatures } from './core/openapi/openapi';

export const API_PREFIX = 'api/v1';

/** Words the router's own refusals in the API's error shape. */
const routerErrors = new HttpExceptionFilter();

/** Builds the HTTP application exactly as `main.ts` serves it; tests boot it the same way. */
export async function createApp(): Promise<NestFastifyApplication> {
  const config = new AppConfig(validateEnvironment(process.env));
  const rootLogger = createRootLogger(config.log.level, config.log.pretty);
  // helmet's headers (no CSP: this serves JSON), worked out once and set on every response, 404s and errors included.
  const headers = securityHeaders({ contentSecurityPolicy: false });
  const adapter = new FastifyAdapter({
    loggerInstance: rootLogger,
    bodyLimit: config.http.bodyLimit,
    trustProxy: config.http.trustProxy as boolean | string[],
    genReqId: () => randomUUID(),
    // Every path parameter reaches its route, whose own check names it (an id that is no UUID
    // is a 400 on `id`); the request line cannot outgrow Node's header limit anyway.
    routerOptions: { maxParamLength: maxHeaderSize },
    // The router refuses a malformed URL before any hook or filter runs: answered here, in the
    // API's error shape and with its headers.
    frameworkErrors: (error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
      const body = routerErrors.toBody(error);
      void reply.headers(headers).status(body.statusCode).header('content-type', 'application/json; charset=utf-8').send(body);
    },
  });
  const logger = new PinoNestLogger(rootLogger);
  // Bodies are JSON (multipart is registered for uploads below): Nest's default parsers would
  // also take forms, and Fastify's would take plain text.
  const app = await NestFactory.create<NestFastifyApplication>(AppModule, adapter, { logger, bufferLogs: true, bodyParser: false, abortOnError: false });
  useJsonBodies(adapter.getInstance());
  app.setGlobalPrefix(API_PREFIX, { exclude: [{ path: 'health', method: RequestMethod.GET }, { path: 'health/ready', method: RequestMethod.GET }] });
  // Answers are written from their documented schemas; routes take them when `init` registers them.
  const document = buildOpenApiDocument(app);
  useResponseSerializers(adapter.getInstance(), responseCheckFor(config.env), logger);
  const { unmatched } = attachResponseSchemas(app, document);
  if (unmatched.length) logger.warn(`Documented answers without a route to write them: ${unmatched.join(', ')}`, 'OpenAPI');
  app.useGlobalPipes(createValidationPipe());

  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', (_request, reply, done) => {
      reply.headers(headers);
      done();
    });
  // Uploads (CSV imports) stream through; the JSON body limit does not apply to them.
  await app.register(multipart as never, { limits: { fileSize: config.imports.maxBytes, files: 1, fields: 5 }, throwFileSizeLimit: false } as never);
  app.enableCors({ origin: config.http.corsOrigins === true ? true : config.http.corsOrigins.length ? config.http.corsOrigins : false, credentials: true });

  if (config.swaggerEnabled) {
    await app.init();
    const features = app.get(FeaturesService);
    SwaggerModule.setup('docs', app, document, {
      jsonDocumentUrl: 'docs-json',
      yamlDocumentUrl: 'docs-yaml',
      customSiteTitle: 'Maestro CRM API',
      patchDocumentOnRequest: (_req, _res, full) => documentForFeatures(full, (key) => features.isEnabled(key as never)),
    });
  }
  return app;
}

/** Tests fail on an answer its document does not describe; development logs it; production only sends what is documented. */
function responseCheckFor(env: NodeEnvironment): ResponseContractCheck {
  return env === NodeEnvironment.Test ? 'throw' : env === NodeEnvironment.Production ? 'off' : 'log';
}

/** Decodes UTF-8 strictly: a lenient decoder would store U+FFFD in place of each byte that is none. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * JSON is the only body the API reads (415 for others), and JSON is UTF-8: a body that is not is
 * refused rather than read with its bad bytes replaced. Keys that would reach an object's
 * prototype (`__proto__`, `constructor.prototype`) are refused by the parser, named as the
 * unknown fields they are rather than as malformed JSON.
 */
function useJsonBodies(server: FastifyInstance): void {
  const parseJson = server.getDefaultJsonParser('error', 'error');
  server.removeAllContentTypeParsers();
  server.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, raw, done) => {
    let body: string;
    try {
      body = utf8.decode(raw as Buffer);
    } catch {
      done(new RequestValidationError([{ field: 'body', message: 'must be UTF-8 text (it holds bytes that are not UTF-8)' }]), undefined);
      return;
    }
    parseJson(request, body, (error, value) => {
      if (error && (error as { code?: string }).code === 'FST_ERR_CTP_INVALID_JSON_BODY' && isJson(body)) {
        const field = /"__proto__"\s*:/.test(body) ? '__proto__' : 'constructor';
        done(new RequestValidationError([{ field, message: 'is not an accepted field' }]), undefined);
        return;
      }
      done(error, value);
    });
  });
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
