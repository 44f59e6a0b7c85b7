import { ConfigError, loadConfig } from './load-config';

/** The error loadConfig throws for this environment; fails the test when it does not throw. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected loadConfig to reject ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      NODE_ENV: 'development',
      HOST: '0.0.0.0',
      PORT: 3000,
      LOG_LEVEL: 'info',
      DOCS_ENABLED: true,
      BENCH_ROUTES: false,
      PGLITE_DATA_DIR: '.data/pglite',
      DATABASE_RUN_MIGRATIONS: true,
      DATABASE_POOL_SIZE: 10,
      REDIS_OPTIONAL: false,
      REDIS_KEY_PREFIX: 'bo:',
      REDIS_COMMAND_TIMEOUT_MS: 250,
      REDIS_CONNECT_TIMEOUT_MS: 2000,
      REDIS_SENTINEL_NAME: 'mymaster',
      REDIS_TLS_REJECT_UNAUTHORIZED: true,
      READINESS_REQUIRES_REDIS: false,
      SHUTDOWN_DRAIN_MS: 5000,
      SHUTDOWN_TIMEOUT_MS: 25_000,
    });
    expect(config.REDIS_URL).toBeUndefined();
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.REDIS_SENTINELS).toBeUndefined();
    expect(config.REDIS_CLUSTER_NODES).toBeUndefined();
  });

  it('ignores variables it does not know', () => {
    expect(loadConfig({ HOME: '/root', SOME_OTHER_TOOL: 'x' })).not.toHaveProperty('HOME');
  });

  it('parses numbers, URLs and host:port lists into typed values', () => {
    const config = loadConfig({
      PORT: '8080',
      DATABASE_URL: 'postgresql://app:pw@db.internal:5432/box',
      REDIS_URL: 'rediss://default:pw@cache.internal:6380/1',
      REDIS_SENTINELS: 's1.internal:26379,10.0.0.2:26380',
    });
    expect(config.PORT).toBe(8080);
    expect(config.DATABASE_URL).toBe('postgresql://app:pw@db.internal:5432/box');
    expect(config.REDIS_URL).toBe('rediss://default:pw@cache.internal:6380/1');
    expect(config.REDIS_SENTINELS).toEqual([
      { host: 's1.internal', port: 26379 },
      { host: '10.0.0.2', port: 26380 },
    ]);
  });

  it('treats empty strings as unset', () => {
    const config = loadConfig({
      PORT: '',
      REDIS_URL: '',
      DATABASE_URL: '',
      NODE_ENV: '',
      DOCS_ENABLED: '',
      REDIS_SENTINELS: '',
    });
    expect(config).toMatchObject({ PORT: 3000, NODE_ENV: 'development', DOCS_ENABLED: true });
    expect(config.REDIS_URL).toBeUndefined();
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.REDIS_SENTINELS).toBeUndefined();
  });

  describe.each([
    ['true', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    ['0', false],
    ['no', false],
  ])('a boolean set to %s', (value, expected) => {
    it(`reads as ${expected}`, () => {
      const config = loadConfig({
        DOCS_ENABLED: value,
        READINESS_REQUIRES_REDIS: value,
        DATABASE_RUN_MIGRATIONS: value,
      });
      expect(config.DOCS_ENABLED).toBe(expected);
      expect(config.READINESS_REQUIRES_REDIS).toBe(expected);
      expect(config.DATABASE_RUN_MIGRATIONS).toBe(expected);
    });
  });

  describe.each([
    { variable: 'PORT', value: 'abc', expected: 'expected an integer between 0 and 65535' },
    { variable: 'PORT', value: '70000', expected: 'expected an integer between 0 and 65535' },
    { variable: 'PORT', value: '80.5', expected: 'expected an integer between 0 and 65535' },
    { variable: 'PORT', value: '-1', expected: 'expected an integer between 0 and 65535' },
    { variable: 'NODE_ENV', value: 'staging', expected: 'expected one of development, production, test' },
    {
      variable: 'LOG_LEVEL',
      value: 'loud',
      expected: 'expected one of fatal, error, warn, info, debug, trace, silent',
    },
    { variable: 'REDIS_URL', value: 'http://x', expected: 'expected a URL starting with redis:// or rediss://' },
    { variable: 'REDIS_URL', value: 'not a url', expected: 'expected a URL starting with redis:// or rediss://' },
    {
      variable: 'DATABASE_URL',
      value: 'mysql://x',
      expected: 'expected a URL starting with postgres:// or postgresql://',
    },
    { variable: 'REDIS_SENTINELS', value: 'nohostport', expected: 'expected a comma-separated list of host:port' },
    { variable: 'REDIS_CLUSTER_NODES', value: 'c1:7000,c2', expected: 'expected a comma-separated list of host:port' },
    { variable: 'DOCS_ENABLED', value: 'maybe', expected: 'expected one of true, false, 1, 0, yes, no' },
    { variable: 'REDIS_KEY_PREFIX', value: 'bo :', expected: 'expected 1-64 characters of A-Z a-z 0-9 : _ - . { }' },
    {
      variable: 'REDIS_KEY_PREFIX',
      value: 'x'.repeat(65),
      expected: 'expected 1-64 characters of A-Z a-z 0-9 : _ - . { }',
    },
    { variable: 'REDIS_COMMAND_TIMEOUT_MS', value: '1', expected: 'expected an integer between 5 and 60000' },
    { variable: 'DATABASE_POOL_SIZE', value: '0', expected: 'expected an integer between 1 and 200' },
    { variable: 'SHUTDOWN_DRAIN_MS', value: '30000', expected: 'expected less than SHUTDOWN_TIMEOUT_MS (25000)' },
  ])('$variable=$value', ({ variable, value, expected }) => {
    it('is refused with a message naming the variable and what was expected', () => {
      const error = configError({ [variable]: value });
      expect(error.problems).toEqual([{ variable, expected }]);
      expect(error.message).toContain(`${variable}: ${expected}`);
    });
  });

  it('reports every bad variable at once', () => {
    const error = configError({
      PORT: 'abc',
      NODE_ENV: 'staging',
      LOG_LEVEL: 'loud',
      DOCS_ENABLED: 'maybe',
      REDIS_URL: 'http://x',
    });
    expect(error.problems.map((p) => p.variable).sort()).toEqual([
      'DOCS_ENABLED',
      'LOG_LEVEL',
      'NODE_ENV',
      'PORT',
      'REDIS_URL',
    ]);
    for (const variable of ['PORT', 'NODE_ENV', 'LOG_LEVEL', 'DOCS_ENABLED', 'REDIS_URL']) {
      expect(error.message).toContain(`${variable}: expected`);
    }
  });

  // zod skips an object's refinements once a field failed; the rules run on what did parse.
  it('reports the cross-variable rules together with a bad field', () => {
    const error = configError({ PORT: 'abc', SHUTDOWN_DRAIN_MS: '30000' });
    expect(error.problems.map((p) => p.variable).sort()).toEqual(['PORT', 'SHUTDOWN_DRAIN_MS']);
  });

  describe('NODE_ENV=production', () => {
    const SECRET = { SESSION_SECRET: 'x'.repeat(32) };

    it('without SESSION_SECRET is refused, naming it', () => {
      const error = configError({ NODE_ENV: 'production', REDIS_URL: 'redis://cache:6379' });
      expect(error.problems).toEqual([{ variable: 'SESSION_SECRET', expected: expect.stringContaining('required') }]);
    });

    it('without REDIS_URL is refused, naming REDIS_URL and the REDIS_OPTIONAL way out', () => {
      const error = configError({ NODE_ENV: 'production', ...SECRET });
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]!.variable).toBe('REDIS_URL');
      expect(error.message).toContain('REDIS_URL: required when NODE_ENV=production');
      expect(error.message).toContain('REDIS_OPTIONAL=true');
    });

    it('with an empty REDIS_URL is refused the same way', () => {
      expect(configError({ NODE_ENV: 'production', REDIS_URL: '', ...SECRET }).problems[0]!.variable).toBe('REDIS_URL');
    });

    it.each([
      { REDIS_OPTIONAL: 'true' },
      { REDIS_OPTIONAL: 'yes' },
      { REDIS_URL: 'redis://cache.internal:6379' },
      { REDIS_SENTINELS: 's1:26379' },
      { REDIS_CLUSTER_NODES: 'c1:7000,c2:7001' },
    ])('starts with %p', (env) => {
      expect(loadConfig({ NODE_ENV: 'production', ...SECRET, ...env }).NODE_ENV).toBe('production');
    });

    it('with REDIS_OPTIONAL=false is still refused', () => {
      expect(configError({ NODE_ENV: 'production', REDIS_OPTIONAL: 'false', ...SECRET }).problems[0]!.variable).toBe(
        'REDIS_URL',
      );
    });
  });

  it('refuses REDIS_SENTINELS and REDIS_CLUSTER_NODES together', () => {
    const error = configError({ REDIS_SENTINELS: 's1:26379', REDIS_CLUSTER_NODES: 'c1:7000' });
    expect(error.problems).toEqual([
      { variable: 'REDIS_CLUSTER_NODES', expected: expect.stringContaining('cannot be combined with REDIS_SENTINELS') },
    ]);
  });

  it('accepts SHUTDOWN_DRAIN_MS=30000 once SHUTDOWN_TIMEOUT_MS is larger', () => {
    expect(loadConfig({ SHUTDOWN_DRAIN_MS: '30000', SHUTDOWN_TIMEOUT_MS: '60000' }).SHUTDOWN_DRAIN_MS).toBe(30_000);
  });

  describe.each([
    { variable: 'DATABASE_URL', value: 'mysql://user:s3cret@db.internal/box' },
    { variable: 'REDIS_URL', value: 'http://default:s3cret@cache.internal:6379' },
    { variable: 'REDIS_URL', value: 'redis//default:s3cret@cache.internal' },
  ])('a bad $variable carrying credentials', ({ variable, value }) => {
    it('never echoes the credentials', () => {
      const error = configError({ [variable]: value });
      expect(error.problems[0]!.variable).toBe(variable);
      expect(error.message).not.toContain('s3cret');
      expect(JSON.stringify(error.problems)).not.toContain('s3cret');
      expect(String(error.stack)).not.toContain('s3cret');
    });
  });

  // Number() would turn ' ' into 0 (a random port) and accept 0x50 or 1e3.
  it.each([' ', '0x50', '1e3', '-1', '80.5'])('refuses PORT=%j', (port) => {
    expect(configError({ PORT: port }).problems[0]!.variable).toBe('PORT');
  });
});
