import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { CheckedDestination, DestinationGuard } from './destination-guard';

/** An attempt got no HTTP answer: timeout, refused connection, TLS failure, forbidden destination. */
export class DeliveryAttemptError extends Error {}

/** Resolves the host to the address already checked, whatever DNS would say now. */
function pinnedLookup({ address, family }: CheckedDestination): LookupFunction {
  return (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all)
      (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * POSTs one webhook. The destination is checked (SSRF guard) and then connected to by the checked
 * IP, with the Host header and TLS server name of the URL. Redirects are not followed (a 3xx is a
 * failed attempt), only the status line is read, and the whole attempt, DNS included, has one
 * time budget.
 */
export class WebhookSender {
  constructor(
    private readonly guard: DestinationGuard,
    private readonly timeoutMs: number,
  ) {}

  /** The HTTP status the receiver answered; throws when there was no answer. */
  async post(url: string, body: string, headers: Record<string, string>, signal?: AbortSignal): Promise<number> {
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const abort = signal ? AbortSignal.any([deadline, signal]) : deadline;
    const target = new URL(url);
    try {
      const destination = await raceAbort(this.guard.check(target), abort);
      const options: RequestOptions = {
        method: 'POST',
        protocol: target.protocol,
        hostname: destination.host,
        port: target.port || undefined,
        path: `${target.pathname}${target.search}`,
        headers: { ...headers, Host: target.host, 'Content-Length': String(Buffer.byteLength(body)) },
        lookup: pinnedLookup(destination),
        // No pooled sockets: each attempt connects to the address it has just checked.
        agent: false,
        signal: abort,
      };
      const response = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(options, resolve);
        req.on('error', reject);
        req.end(body);
      });
      // The status is the answer; the body is not read, and its socket is closed.
      response.destroy();
      return response.statusCode ?? 0;
    } catch (error) {
      if (deadline.aborted) throw new DeliveryAttemptError(`timed out after ${this.timeoutMs} ms`);
      if (signal?.aborted) throw new DeliveryAttemptError('cancelled: the worker is shutting down');
      const { code, message } = error as { code?: string; message: string };
      throw new DeliveryAttemptError(code ? `${code}: ${message}` : message);
    }
  }
}
