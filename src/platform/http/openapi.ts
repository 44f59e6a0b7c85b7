import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { declareProblemResponses } from './openapi-problems';

/** OpenAPI document at `/docs/openapi.json` and its UI at `/docs`. */
export function setupOpenApi(
  app: INestApplication,
  info: { title: string; version: string; description: string; cookieName?: string; probePaths?: string[] },
): void {
  const config = new DocumentBuilder()
    .setTitle(info.title)
    .setVersion(info.version)
    .setDescription(info.description)
    .addBearerAuth({ type: 'http', scheme: 'bearer' }, 'bearer')
    .addCookieAuth(info.cookieName ?? 'bo_session', { type: 'apiKey', in: 'cookie' }, 'cookie')
    .build();
  const document = declareProblemResponses(SwaggerModule.createDocument(app, config), info.probePaths);
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs/openapi.json',
    yamlDocumentUrl: 'docs/openapi.yaml',
  });
}
