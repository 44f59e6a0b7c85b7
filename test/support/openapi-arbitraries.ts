import fc from 'fast-check';

/** The parts of an OpenAPI 3.0 document the fuzzer reads. */
export interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  enum?: unknown[];
  example?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  nullable?: boolean;
  additionalProperties?: boolean | Schema;
  allOf?: Schema[];
  [keyword: string]: unknown;
}
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: Schema;
}
interface MediaType {
  schema?: Schema;
}
export interface Operation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, MediaType> };
  responses: Record<string, { content?: Record<string, MediaType> }>;
  security?: unknown[];
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

export type Actor = 'anonymous' | 'organizer' | 'customer';

/** How the request authenticates: as its actor, with a mangled form of the actor's token, or a fixed header. */
export type AuthMode = 'actor' | 'lowercase-scheme' | 'token-without-scheme' | { header: string };

/** A path parameter: one of the ids the fixtures made (by index into the pool), or a raw path segment. */
export type PathValue = { known: number } | { raw: string };

/** One generated request, before the actor's session is filled in. */
export interface FuzzRequest {
  operation: string;
  method: string;
  template: string;
  actor: Actor;
  auth: AuthMode;
  pathParams: Record<string, PathValue>;
  query: string;
  headers: Record<string, string>;
  /** The raw body bytes as text (JSON or deliberately not). */
  body?: string;
}

export const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/** Every operation of the document, `METHOD /path` first. */
export function operationsOf(doc: OpenApiDocument): { name: string; method: string; path: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((method) => item[method]).map((method) => ({
      name: `${method.toUpperCase()} ${path}`,
      method: method.toUpperCase(),
      path,
      op: item[method]!,
    })),
  );
}

export function resolve(doc: OpenApiDocument, schema: Schema): Schema {
  if (!schema.$ref) return schema;
  const name = schema.$ref.replace('#/components/schemas/', '');
  return resolve(doc, doc.components.schemas[name] ?? {});
}

const printable = (min: number, max: number) =>
  fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    minLength: min,
    maxLength: max,
  });

/** Strings a careless parser or database chokes on. */
const nastyString = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    'a\u0000b',
    '\u0000',
    '\ud800',
    'x\udfff',
    '\ud83c',
    '🎷\u0301',
    '\u202e\u2066',
    '\ufeff',
    'null',
    'true',
    '0',
    '-1',
    '1e309',
    '__proto__',
    'constructor',
    "'; DROP TABLE events; --",
    '%00',
    '../../etc/passwd',
    '2031-02-31T20:00:00Z',
    '2031-02-29T20:00:00Z',
    '0000-01-01T00:00:00Z',
    '9999-12-31T23:59:59.999999999+23:59',
    '2030-01-01T00:00:00',
    '2030-01-01',
  ),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.integer({ min: 201, max: 20_000 }).map((n) => 'x'.repeat(n)),
);

/** A value of any JSON type, leaning towards the edges. */
export const wildValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -1, 1.5, 2 ** 31, 2 ** 53, -(2 ** 53), Number.MAX_SAFE_INTEGER + 2, 1e308, -1e308, 5e-324),
  nastyString,
  fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.constant(null)), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.integer(), fc.string({ maxLength: 5 })), { maxKeys: 3 }),
);

/** Ids and URLs the fixtures make usable: generated values lean on them to get past the 404s. */
export interface ArbitraryContext {
  /** A webhook URL the test's receiver answers. */
  webhookUrl: string;
}

/** A value the schema accepts (as far as the document says: a DTO may still refuse it). */
export function validValue(doc: OpenApiDocument, raw: Schema, ctx: ArbitraryContext, depth = 0): fc.Arbitrary<unknown> {
  const schema = resolve(doc, raw);
  if (schema.enum?.length) return fc.constantFrom(...schema.enum);
  const withExample = (arb: fc.Arbitrary<unknown>) =>
    schema.example !== undefined && typeof schema.example !== 'object'
      ? fc.oneof(fc.constant(schema.example), arb)
      : arb;
  switch (schema.type) {
    case 'string':
      return withExample(stringFor(schema, ctx));
    case 'integer':
    case 'number': {
      const min = schema.minimum ?? -1_000_000;
      const max = schema.maximum ?? 1_000_000;
      return fc.oneof(fc.integer({ min, max }), fc.constantFrom(min, max));
    }
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(validValue(doc, schema.items ?? {}, ctx, depth + 1), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.max(schema.minItems ?? 0, 3),
      });
    case 'object':
    default: {
      if (!schema.properties || depth > 3) return fc.constant({});
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, property] of Object.entries(schema.properties))
        record[key] = validValue(doc, property, ctx, depth + 1);
      return fc.record(record, { requiredKeys: (schema.required ?? []).filter((key) => key in record) });
    }
  }
}

function stringFor(schema: Schema, ctx: ArbitraryContext): fc.Arbitrary<string> {
  switch (schema.format) {
    case 'date-time':
      return fc
        .date({ min: new Date(Date.now() + 86_400_000), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true })
        .map((d) => d.toISOString());
    case 'uuid':
      return fc.uuid();
    case 'email':
      return fc.emailAddress();
    case 'uri':
      return fc.constantFrom(ctx.webhookUrl, `${ctx.webhookUrl}?x=1`);
    default: {
      const minLength = schema.minLength ?? 0;
      const maxLength = Math.min(schema.maxLength ?? 40, Math.max(minLength, 40));
      return fc.string({ minLength, maxLength });
    }
  }
}

/** The body bytes of an operation: valid, one field broken, a field missing or extra, another type, or not JSON. */
function bodyFor(doc: OpenApiDocument, op: Operation, ctx: ArbitraryContext): fc.Arbitrary<string | undefined> {
  const schema = op.requestBody?.content['application/json']?.schema;
  const notJson = fc.constantFrom(
    '{',
    '{"a":',
    '',
    '[]',
    'null',
    '"x"',
    '{"__proto__":{"x":1}}',
    '{"a":1,"a":2}',
    '\ufeff{}',
  );
  const deep = fc.integer({ min: 100, max: 5000 }).map((n) => '['.repeat(n) + ']'.repeat(n));
  if (!schema) {
    return fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: wildValue.map(stringify) },
    );
  }
  const resolved = resolve(doc, schema);
  const keys = Object.keys(resolved.properties ?? {});
  const required = resolved.required ?? [];
  const valid = validValue(doc, schema, ctx) as fc.Arbitrary<Record<string, unknown>>;
  const arbitraries: fc.WeightedArbitrary<string | undefined>[] = [
    { weight: 5, arbitrary: valid.map(stringify) },
    { weight: 1, arbitrary: wildValue.map(stringify) },
    { weight: 1, arbitrary: fc.oneof(notJson, deep) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(valid, fc.string({ minLength: 1, maxLength: 8 }), wildValue)
        .map(([body, key, value]) => stringify({ ...body, [key]: value })),
    },
  ];
  if (keys.length) {
    arbitraries.push({
      weight: 4,
      arbitrary: fc
        .tuple(valid, fc.constantFrom(...keys), wildValue)
        .map(([body, key, value]) => stringify({ ...body, [key]: value })),
    });
  }
  if (required.length) {
    arbitraries.push({
      weight: 1,
      arbitrary: fc.tuple(valid, fc.constantFrom(...required)).map(([body, key]) => {
        const { [key]: _dropped, ...rest } = body;
        return stringify(rest);
      }),
    });
  }
  return fc.oneof(...arbitraries);
}

const stringify = (value: unknown) => JSON.stringify(value) ?? 'undefined';

/** A path segment that is not an id: malformed, over-long, encoded oddly. */
const rawSegment = fc.oneof(
  fc.uuid(),
  fc.constantFrom(
    'not-a-uuid',
    '0',
    '-1',
    '%00',
    '%E0%A4%A',
    '%zz',
    '%ED%A0%80',
    '%F0%9F%8E%B7',
    '%2F',
    '%20',
    '00000000-0000-0000-0000-000000000000',
    'FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF',
  ),
  fc.integer({ min: 90, max: 6000 }).map((n) => 'a'.repeat(n)),
  fc.string({ minLength: 1, maxLength: 20 }).map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, ''))),
);

function queryFor(op: Operation): fc.Arbitrary<string> {
  const params = (op.parameters ?? []).filter((p) => p.in === 'query');
  const pair = (name: string, value: unknown) => `${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`;
  const validOf = (param: Parameter): fc.Arbitrary<unknown> => {
    const schema = param.schema ?? {};
    if (schema.enum?.length) return fc.constantFrom(...schema.enum);
    if (schema.format === 'date-time') {
      return fc
        .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
        .map((d) => d.toISOString());
    }
    if (schema.type === 'integer' || schema.type === 'number') {
      return fc.integer({ min: schema.minimum ?? 0, max: schema.maximum ?? 100 });
    }
    if (schema.type === 'boolean') return fc.constantFrom('true', 'false');
    if (schema.format === 'uuid') return fc.uuid();
    return fc.string({ maxLength: 10 });
  };
  const wildOf = (param: Parameter): fc.Arbitrary<string[]> => {
    const schema = param.schema ?? {};
    const edge =
      schema.type === 'integer' || schema.type === 'number'
        ? fc.constantFrom(
            (schema.minimum ?? 0) - 1,
            (schema.maximum ?? 100) + 1,
            1.5,
            2 ** 53,
            -0,
            'NaN',
            '1e3',
            '0x10',
            '',
          )
        : fc.constantFrom('yes', '', 'null');
    return fc.oneof(
      edge.map((v) => [pair(param.name, v)]),
      nastyString.map((v) => [pair(param.name, v.replace(/[\ud800-\udfff]/g, '\ufffd'))]),
      fc.tuple(validOf(param), validOf(param)).map(([a, b]) => [pair(param.name, a), pair(param.name, b)]),
    );
  };
  // Each declared parameter absent or valid; then, sometimes, one of them broken or junk added.
  const valid = fc.tuple(
    ...params.map((param) =>
      fc.option(
        validOf(param).map((v) => pair(param.name, v)),
        { nil: undefined, freq: 2 },
      ),
    ),
  );
  const extra = fc.constantFrom('%zz=1', 'a[b]=1', '=x', '&&&', 'unknown=1', '%00=%00', 'limit');
  const mutation: fc.Arbitrary<{ index: number; parts: string[] } | undefined> = fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    ...(params.length
      ? [
          {
            weight: 2,
            arbitrary: fc
              .nat({ max: params.length - 1 })
              .chain((index) => wildOf(params[index]).map((parts) => ({ index, parts }))),
          },
        ]
      : []),
    { weight: 1, arbitrary: extra.map((junk) => ({ index: -1, parts: [junk] })) },
  );
  return fc.tuple(valid, mutation).map(([parts, broken]) => {
    const all: string[] = parts
      .map((part, i) => (broken?.index === i ? undefined : part))
      .filter((p) => p !== undefined);
    if (broken) all.push(...broken.parts);
    return all.length ? `?${all.join('&')}` : '';
  });
}

/** Header values fetch can send: printable ASCII, sometimes a Latin-1 byte. */
const headerValue = fc.oneof(printable(0, 40), fc.constantFrom('é', 'a\tb', 'x'.repeat(300)));

function headersFor(op: Operation): fc.Arbitrary<Record<string, string>> {
  const declared = (op.parameters ?? []).filter((p) => p.in === 'header');
  const idempotency = declared.some((p) => p.name.toLowerCase() === 'idempotency-key');
  const etag = declared.some((p) => p.name.toLowerCase() === 'if-none-match');
  const contentType = fc.oneof(
    { weight: 12, arbitrary: fc.constant('application/json') },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'application/json; charset=utf-8',
        'application/json; charset=latin1',
        'APPLICATION/JSON',
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/xml',
        'multipart/form-data; boundary=x',
        'application/merge-patch+json',
        'garbage',
        '',
        'none',
      ),
    },
  );
  return fc
    .record({
      contentType,
      idempotencyKey: idempotency
        ? fc.oneof(
            { weight: 6, arbitrary: fc.uuid() },
            { weight: 1, arbitrary: headerValue },
            { weight: 1, arbitrary: fc.constant('none') },
          )
        : fc.oneof({ weight: 9, arbitrary: fc.constant('none') }, { weight: 1, arbitrary: fc.uuid() }),
      ifNoneMatch: etag ? fc.oneof(fc.constant('none'), fc.constant('*'), headerValue) : fc.constant('none'),
      browser: fc.oneof(
        { weight: 12, arbitrary: fc.constant('none') },
        { weight: 1, arbitrary: fc.constantFrom('cross-site', 'same-site', 'same-origin', 'none-header') },
      ),
      requestId: fc.oneof({ weight: 8, arbitrary: fc.constant('none') }, { weight: 1, arbitrary: headerValue }),
    })
    .map(({ contentType, idempotencyKey, ifNoneMatch, browser, requestId }) => {
      const headers: Record<string, string> = {};
      if (contentType !== 'none') headers['content-type'] = contentType;
      if (idempotencyKey !== 'none') headers['idempotency-key'] = idempotencyKey;
      if (ifNoneMatch !== 'none') headers['if-none-match'] = ifNoneMatch;
      if (browser === 'none-header') headers['sec-fetch-site'] = 'none';
      else if (browser !== 'none') {
        headers['sec-fetch-site'] = browser;
        headers.origin = 'https://elsewhere.example';
      }
      if (requestId !== 'none') headers['x-request-id'] = requestId;
      return headers;
    });
}

const authMode: fc.Arbitrary<AuthMode> = fc.oneof(
  { weight: 12, arbitrary: fc.constant('actor' as const) },
  { weight: 1, arbitrary: fc.constantFrom('lowercase-scheme' as const, 'token-without-scheme' as const) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        fc.constantFrom('Bearer ', 'Bearer', 'Basic dXNlcjpwYXNz', 'Bearer a.b.c', `Bearer ${'a'.repeat(5000)}`),
        printable(0, 60).map((s) => `Bearer ${s}`),
      )
      .map((header) => ({ header })),
  },
);

/** Every request the fuzzer may send to one operation. */
export function requestArbitrary(
  doc: OpenApiDocument,
  entry: { name: string; method: string; path: string; op: Operation },
  ctx: ArbitraryContext,
): fc.Arbitrary<FuzzRequest> {
  const pathNames = (entry.op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
  const pathValue: fc.Arbitrary<PathValue> = fc.oneof(
    { weight: 3, arbitrary: fc.nat({ max: 1000 }).map((known) => ({ known })) },
    { weight: 2, arbitrary: rawSegment.map((raw) => ({ raw })) },
  );
  const pathParams = fc.record(Object.fromEntries(pathNames.map((name) => [name, pathValue])));
  return fc
    .record({
      actor: fc.constantFrom<Actor>('anonymous', 'organizer', 'customer'),
      auth: authMode,
      pathParams,
      query: queryFor(entry.op),
      headers: headersFor(entry.op),
      body: bodyFor(doc, entry.op, ctx),
    })
    .map((parts) => ({
      operation: entry.name,
      method: entry.method,
      template: entry.path,
      ...parts,
      body: parts.body,
    }));
}
