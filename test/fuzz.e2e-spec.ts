import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { createTestDatabase, type TestDatabase } from './support/database';
import { startApp, type RunningApp } from './support/app';
import { logIn, signUp, type SignedIn } from './support/auth';
import { eventBody, PROBLEM_JSON } from './support/fixtures';
import { eventually } from './support/eventually';
import { send } from './support/http';
import {
  operationsOf,
  requestArbitrary,
  type Actor,
  type FuzzRequest,
  type OpenApiDocument,
  type Schema,
} from './support/openapi-arbitraries';
import { TEST_REDIS_URL, uniquePrefix } from './support/redis';
import { TRANSPORT_STATUSES } from '../src/platform/http';

/**
 * Property-based fuzzing over the OpenAPI document: for every operation, valid and mutated
 * requests (anonymous, organizer, customer) against the real app on Redis and the suite's
 * database. `npm test` runs a fixed seed and a few runs per operation; `npm run fuzz` a random
 * seed (FUZZ_SEED to replay one) and FUZZ_RUNS runs per operation.
 */
const LONG = process.env.FUZZ === 'true';
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : LONG ? Date.now() % 2 ** 31 : 20_261_207;
/** Prints every request (and its answer) whose operation contains this text, e.g. FUZZ_TRACE='GET /events'. */
const TRACE = process.env.FUZZ_TRACE;
const RUNS = Number(process.env.FUZZ_RUNS ?? (LONG ? 100 : 25));

/** What no answer may contain: a stack frame, a source path, SQL or a driver's error. */
const LEAKS: [string, RegExp][] = [
  ['stack frame', /\bat [\w.<>]+ \(|\bat .+:\d+:\d+/],
  ['source path', /(?:\/[\w.-]+)+\.(?:ts|js|mjs|cjs)\b|node_modules/],
  ['SQL', /\b(?:SELECT|INSERT INTO|UPDATE|DELETE FROM)\b[\s\S]{0,200}\b(?:FROM|VALUES|SET|WHERE)\b/],
  [
    'driver error',
    /QueryFailedError|syntax error at or near|violates .* constraint|duplicate key value|invalid input syntax/i,
  ],
];

interface Outcome {
  status: number;
  contentType: string;
  requestId: string | null;
  replayed: boolean;
  body: string;
}

describe('fuzzing over the OpenAPI document', () => {
  let db: TestDatabase;
  let running: RunningApp;
  let receiver: Server;
  let doc: OpenApiDocument;
  const users: Partial<Record<Actor, SignedIn>> = {};
  const pools: Record<string, string[]> = {};
  const statuses = new Map<string, number>();
  let sent = 0;

  beforeAll(async () => {
    receiver = createServer((_req, res) => res.writeHead(204).end());
    await new Promise<void>((done) => receiver.listen(0, '127.0.0.1', done));
    db = await createTestDatabase();
    running = await startApp({
      ...db.env,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: uniquePrefix('fuzz'),
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOWED_PRIVATE_ADDRESSES: '127.0.0.1',
      WEBHOOK_ATTEMPTS: '2',
      WEBHOOK_BACKOFF_MS: '50',
      WEBHOOK_TIMEOUT_MS: '1000',
      WEBHOOK_SWEEP_INTERVAL_MS: '200',
    });
    doc = await (await fetch(`${running.url}/docs/openapi.json`)).json();
    await makeFixtures();
  });
  afterAll(async () => {
    await running?.close();
    await db?.drop();
    await new Promise((done) => receiver?.close(done));
  });

  const webhookUrl = () => `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  /** Real ids for every kind of path parameter, so generated requests get past the 404s. */
  async function makeFixtures(): Promise<void> {
    const organizer = (users.organizer = await signUp(running.url, 'organizer'));
    const customer = (users.customer = await signUp(running.url, 'customer'));
    const as = (who: SignedIn, key = randomUUID()) => ({ ...who.auth, 'idempotency-key': key });
    const ok = async (answer: Promise<{ status: number; body: string }>) => {
      const { status, body } = await answer;
      if (status >= 300) throw new Error(`fixture: ${status} ${body}`);
      return JSON.parse(body || '{}');
    };
    const endpoint = await ok(send('POST', `${running.url}/webhooks/endpoints`, { url: webhookUrl() }, organizer.auth));
    const events = [];
    for (let i = 0; i < 3; i++) {
      events.push(await ok(send('POST', `${running.url}/events`, eventBody({ capacity: 1_000_000 }), organizer.auth)));
    }
    const orders = [];
    for (let i = 0; i < 3; i++) {
      orders.push(
        await ok(send('POST', `${running.url}/events/${events[0].id}/reservations`, { quantity: 1 }, as(customer))),
      );
    }
    await ok(send('POST', `${running.url}/orders/${orders[0].id}/payment`, {}, as(customer)));
    const exported = await ok(send('POST', `${running.url}/events/${events[0].id}/exports`, undefined, as(organizer)));
    const deliveries: { id: string }[] = await eventually(
      async () => (await ok(send('GET', `${running.url}/webhooks/deliveries`, undefined, organizer.auth))).items,
      (items) => items.length > 0,
    );
    if (!deliveries.length) throw new Error('fixture: no webhook delivery');
    // A second session each, which DELETE /auth/sessions/{id} may revoke.
    const spare = [];
    for (const who of [organizer, customer]) {
      const { auth } = await logIn(running.url, who.email, who.password);
      const sessions = await ok(send('GET', `${running.url}/auth/sessions`, undefined, auth));
      spare.push(...sessions.filter((s: { current: boolean }) => s.current).map((s: { id: string }) => s.id));
    }
    Object.assign(pools, {
      events: events.map((e) => e.id),
      orders: orders.map((o) => o.id),
      jobs: [exported.id],
      endpoints: [endpoint.id],
      deliveries: deliveries.map((d) => d.id),
      sessions: spare,
      users: [organizer.userId, customer.userId],
    });
  }

  const poolOf = (template: string): string[] => {
    const kind = template.split('/')[1];
    if (kind === 'events') return pools.events;
    if (kind === 'orders') return pools.orders;
    if (kind === 'jobs' || kind === 'exports') return pools.jobs;
    if (kind === 'users') return pools.users;
    if (kind === 'auth') return pools.sessions;
    return template.startsWith('/webhooks/endpoints') ? pools.endpoints : pools.deliveries;
  };

  function urlOf(request: FuzzRequest): string {
    const path = request.template.replace(/\{(\w+)\}/g, (_match, name: string) => {
      const value = request.pathParams[name];
      if ('raw' in value) return value.raw;
      const pool = poolOf(request.template);
      return pool[value.known % pool.length];
    });
    return running.url + path + request.query;
  }

  function headersOf(request: FuzzRequest): Record<string, string> {
    const headers = { ...request.headers };
    const token = request.actor === 'anonymous' ? undefined : users[request.actor]?.token;
    const auth = request.auth;
    if (typeof auth === 'object') headers.authorization = auth.header;
    else if (token && auth === 'actor') headers.authorization = `Bearer ${token}`;
    else if (token && auth === 'lowercase-scheme') headers.authorization = `bearer ${token}`;
    else if (token) headers.authorization = token;
    return headers;
  }

  async function exchange(request: FuzzRequest): Promise<Outcome> {
    sent++;
    const hasBody = request.body !== undefined && request.method !== 'GET';
    const res = await fetch(urlOf(request), {
      method: request.method,
      headers: headersOf(request),
      body: hasBody ? new Uint8Array(Buffer.from(request.body!)) : undefined,
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
    });
    const contentType = res.headers.get('content-type') ?? '';
    // A stream stays open: its headers are the answer.
    const body = contentType.startsWith('text/event-stream') ? (await res.body?.cancel(), '') : await res.text();
    if (TRACE && request.operation.includes(TRACE)) {
      process.stdout.write(`${describeRequest(request)}\n  -> ${res.status} ${clip(body, 300)}\n`);
    }
    const key = `${request.operation} ${res.status}`;
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
    return {
      status: res.status,
      contentType,
      requestId: res.headers.get('x-request-id'),
      replayed: res.headers.get('idempotent-replayed') === 'true',
      body,
    };
  }

  /** A request may revoke its actor's session (logout, revoke all): the next run signs in again. */
  async function keepSignedIn(request: FuzzRequest): Promise<void> {
    if (request.actor === 'anonymous' || !request.template.startsWith('/auth/') || request.method === 'GET') return;
    const who = users[request.actor]!;
    const me = await fetch(`${running.url}/auth/me`, { headers: who.auth });
    if (me.status === 200) return;
    Object.assign(who, await logIn(running.url, who.email, who.password));
  }

  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const validators = new Map<string, ValidateFunction>();
  function validatorFor(key: string, schema: Schema): ValidateFunction {
    let validate = validators.get(key);
    if (!validate) {
      validate = ajv.compile(closed(schema, doc));
      validators.set(key, validate);
    }
    return validate;
  }

  /** Every invariant of the HTTP contract; throws with the request and the answer. */
  function check(request: FuzzRequest, outcome: Outcome): void {
    const fail = (why: string) => {
      throw new Error(
        `${why}\n  request: ${describeRequest(request)}\n  answer: ${outcome.status} ${outcome.contentType} ${outcome.body.slice(0, 600)}`,
      );
    };
    const { status, body } = outcome;
    if (status >= 500) fail('5xx');
    for (const [leak, pattern] of LEAKS) if (pattern.test(body)) fail(`the body leaks a ${leak}`);
    const operation = doc.paths[request.template][request.method.toLowerCase()];
    const documented = operation.responses[String(status)] ?? operation.responses[`${String(status)[0]}XX`];
    if (!documented && !TRANSPORT_STATUSES.includes(status))
      fail(`status ${status} is not documented for ${request.operation}`);
    if (status >= 400) {
      if (outcome.contentType !== PROBLEM_JSON) fail('a 4xx that is not problem+json');
      let problem: Record<string, unknown>;
      try {
        problem = JSON.parse(body);
      } catch {
        return fail('a problem body that is not JSON');
      }
      if (typeof problem.type !== 'string' || typeof problem.title !== 'string')
        fail('a problem without type or title');
      if (problem.status !== status) fail('a problem whose status is not the response status');
      // A replay (same Idempotency-Key and body) is the first answer byte for byte, its request id included.
      const requestId = outcome.replayed
        ? typeof problem.requestId === 'string'
        : problem.requestId === outcome.requestId;
      if (!outcome.requestId || !requestId) fail('a problem without the request id');
      return;
    }
    if (status < 200 || status >= 300 || !documented) return;
    const content = documented.content;
    if (status === 204 || !content) {
      if (body !== '') fail(`${status} with an undocumented body`);
      return;
    }
    const mediaType = Object.keys(content).find((type) => outcome.contentType.startsWith(type));
    if (!mediaType) fail(`${status} as ${outcome.contentType}, documented as ${Object.keys(content).join(', ')}`);
    const schema = content[mediaType!].schema;
    if (mediaType !== 'application/json' || !schema) return;
    const validate = validatorFor(`${request.operation} ${status}`, schema);
    if (!validate(JSON.parse(body)))
      fail(`the body does not match the documented schema: ${ajv.errorsText(validate.errors)}`);
  }

  it('gives every parameter and property of the document a type (no schema falls back to Object)', () => {
    const text = JSON.stringify(doc);
    expect(text).not.toContain('#/components/schemas/Object');
    for (const { name, op } of operationsOf(doc)) {
      for (const param of op.parameters ?? []) {
        expect({ name, param: param.name, typed: Boolean(param.schema?.type ?? param.schema?.$ref) }).toEqual({
          name,
          param: param.name,
          typed: true,
        });
      }
    }
  });

  it(
    `keeps the HTTP contract for every operation (seed ${SEED}, ${RUNS} runs per operation)`,
    async () => {
      const failures: string[] = [];
      const operations = operationsOf(doc);
      expect(operations.length).toBeGreaterThan(20);
      for (const entry of operations) {
        const property = fc.asyncProperty(
          requestArbitrary(doc, entry, { webhookUrl: webhookUrl() }),
          async (request) => {
            const outcome = await exchange(request);
            await keepSignedIn(request);
            check(request, outcome);
          },
        );
        const result = await fc.check(property, { seed: SEED, numRuns: RUNS });
        if (result.failed) {
          const error =
            result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
          failures.push(
            `${entry.name} (seed ${result.seed}, path ${result.counterexamplePath}, shrunk ${result.numShrinks} times): ${error}`,
          );
        }
      }
      if (LONG) {
        const table = [...statuses].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `  ${k}: ${n}`);
        process.stdout.write(
          `fuzz: seed ${SEED}, ${RUNS} runs per operation, ${operations.length} operations, ${sent} requests sent, ${failures.length} failing\n${table.join('\n')}\n`,
        );
      }
      expect(failures).toEqual([]);
    },
    LONG ? 3_600_000 : 180_000,
  );
});

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text);

/** A curl command line for the request, to replay a shrunk counterexample by hand. */
function describeRequest(request: FuzzRequest): string {
  const headers = Object.entries(request.headers).map(([k, v]) => `-H '${k}: ${v}'`);
  const auth =
    typeof request.auth === 'object'
      ? `-H 'authorization: ${request.auth.header.slice(0, 80)}'`
      : `(${request.auth} as ${request.actor})`;
  const body = request.body === undefined ? '' : ` --data-binary ${JSON.stringify(request.body.slice(0, 300))}`;
  return `curl -X ${request.method} '${request.template}${clip(request.query, 300)}' params=${clip(JSON.stringify(request.pathParams), 200)} ${clip(headers.join(' '), 400)} ${auth}${body}`;
}

/**
 * The schema with `$ref`s pointing into the document, and `additionalProperties: false` on every
 * object that lists its properties: a field the document does not mention is a finding too.
 */
function closed(schema: Schema, doc: OpenApiDocument, seen = new Map<string, Schema>()): Schema {
  if (schema.$ref) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    return closed(doc.components.schemas[name] ?? {}, doc, seen);
  }
  const copy: Schema = { ...schema };
  if (copy.properties) {
    copy.properties = Object.fromEntries(Object.entries(copy.properties).map(([k, v]) => [k, closed(v, doc, seen)]));
    copy.additionalProperties ??= false;
  }
  if (copy.items) copy.items = closed(copy.items, doc, seen);
  if (copy.allOf) copy.allOf = copy.allOf.map((part) => closed(part, doc, seen));
  if (typeof copy.additionalProperties === 'object')
    copy.additionalProperties = closed(copy.additionalProperties, doc, seen);
  return copy;
}
