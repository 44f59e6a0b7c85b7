import { envSchema, type Env } from './env.schema';

/** Thrown when the environment does not describe a runnable process; names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; expected: string }[]) {
    super('Invalid configuration:\n' + problems.map((p) => `  - ${p.variable}: ${p.expected}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/**
 * Parses and validates the environment. Values are never echoed back in the error, because
 * DATABASE_URL and REDIS_URL carry credentials.
 */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Env {
  // Empty strings mean "unset", as they do for most twelve-factor tooling.
  const env = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => ({
      variable: String(issue.path[0] ?? '(environment)'),
      expected: issue.message,
    })),
  );
}
