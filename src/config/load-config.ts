import { crossVariableIssues, envSchema, type Env } from './env.schema';

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
  const problems: { variable: string; expected: string }[] = [];
  let values: Partial<Env>;
  if (result.success) {
    values = result.data;
  } else {
    problems.push(
      ...result.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? '(environment)'),
        expected: issue.message,
      })),
    );
    // The variables that did parse still feed the cross-variable rules.
    const bad = new Set(problems.map((p) => p.variable));
    values = Object.fromEntries(
      Object.entries(envSchema.shape)
        .filter(([name]) => !bad.has(name))
        .map(([name, schema]) => [name, schema.parse(env[name])]),
    ) as Partial<Env>;
  }
  problems.push(...crossVariableIssues(values));
  if (problems.length) throw new ConfigError(problems);
  return values as Env;
}
