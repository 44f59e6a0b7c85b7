import type { LoggerService } from '@nestjs/common';
import { pino, type DestinationStream, type Logger } from 'pino';

export type LogFormat = 'auto' | 'json' | 'pretty';

/**
 * The one pino instance of an app: Fastify logs requests through it, Nest logs everything else.
 * JSON lines by default; readable lines (pino-pretty, a devDependency) when `format` is `pretty`,
 * or `auto` on a terminal outside production. Without pino-pretty installed it stays JSON.
 */
export function createLogger(level: string, format: LogFormat = 'json', production = false): Logger {
  const options = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  const pretty = format === 'pretty' || (format === 'auto' && !production && process.stdout.isTTY === true);
  const stream = pretty ? prettyStream() : undefined;
  return stream ? pino(options, stream) : pino(options);
}

/** One short line per record: `HH:MM:ss.l INFO [context] message`, requests as `GET /url 200 3 ms`. */
function prettyStream(): DestinationStream | undefined {
  let build: ((options: Record<string, unknown>) => DestinationStream) | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    build = require('pino-pretty') as typeof build;
  } catch {
    return undefined;
  }
  return build?.({
    sync: true,
    translateTime: 'HH:MM:ss.l',
    ignore: 'pid,hostname,context,req,res,responseTime',
    singleLine: true,
    messageFormat: (log: Record<string, unknown>, messageKey: string) => {
      const req = log.req as { method?: string; url?: string } | undefined;
      const res = log.res as { statusCode?: number } | undefined;
      if (req && res && typeof log.responseTime === 'number') {
        return `${req.method} ${req.url} ${res.statusCode} ${log.responseTime.toFixed(1)} ms`;
      }
      const context = typeof log.context === 'string' ? `[${log.context}] ` : '';
      return `${context}${String(log[messageKey] ?? '')}`;
    },
  });
}

/** Nest's start-up chatter (one line per module and per route): debug, not info. */
const STARTUP_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory']);

/**
 * Nest's LoggerService on pino. Nest passes the context (the class name) as the last string
 * argument and, for errors, a stack before it.
 */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...rest: unknown[]): void {
    const context = rest.at(-1);
    this.write(typeof context === 'string' && STARTUP_CONTEXTS.has(context) ? 'debug' : 'info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  private write(
    level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace',
    message: unknown,
    rest: unknown[],
  ): void {
    if (!this.logger.isLevelEnabled(level)) return;
    const context = typeof rest.at(-1) === 'string' ? (rest.pop() as string) : undefined;
    const stack = level === 'error' && typeof rest[0] === 'string' ? (rest.shift() as string) : undefined;
    const fields: Record<string, unknown> = { context };
    if (stack) fields.stack = stack;
    if (message instanceof Error) this.logger[level]({ ...fields, err: message }, message.message);
    else if (message !== null && typeof message === 'object') {
      const { msg, ...data } = message as Record<string, unknown>;
      this.logger[level]({ ...fields, ...data }, typeof msg === 'string' ? msg : undefined);
    } else this.logger[level](fields, String(message));
  }
}
