export { HttpPlatformModule } from './http.module';
export { createLogger, PinoNestLogger } from './logger';
export { MetricsService } from './metrics.service';
export {
  ProblemException,
  PROBLEM_TYPE_PREFIX,
  PROBLEM_CONTENT_TYPE,
  problemForStatus,
  type ProblemDetails,
  type ProblemInit,
} from './problem';
export {
  PrerenderedResponse,
  ProblemDetailsFilter,
  problemOf,
  renderProblem,
  sendProblem,
  type RenderedResponse,
} from './problem.filter';
export { createValidationPipe, type FieldError } from './validation.pipe';
export { createFastifyAdapter, type FastifyAdapterOptions } from './fastify';
export { setupOpenApi } from './openapi';
export { declareProblemResponses, TRANSPORT_STATUSES } from './openapi-problems';
export { REQUEST_ID_HEADER } from './request-id';
export { apiSecurityHeaders, useApiSecurityHeaders } from './security-headers';
export { PageQuery } from './page.query';
export { serveOperationalRoutesOnly } from './operational-only';
