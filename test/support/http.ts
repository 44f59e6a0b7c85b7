/** One HTTP exchange as the e2e suites read it: the body as text, so byte-exact replays can be compared. */
export interface Answer {
  status: number;
  body: string;
  headers: Headers;
}

export const json = { 'content-type': 'application/json' };

/** A request with an optional JSON body; `headers` come last so that auth can be added to any call. */
export async function send(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? headers : { ...json, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

export const parse = <T>(answer: Answer) => JSON.parse(answer.body) as T;

/** The `type` of a problem+json answer. */
export const problemType = (answer: Answer) => parse<{ type: string }>(answer).type;
