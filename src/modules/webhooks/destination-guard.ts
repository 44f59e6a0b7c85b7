import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { AddressPolicy } from './address-policy';

/** The destination cannot be used: its host does not resolve, or resolves somewhere forbidden. */
export class DestinationError extends Error {
  constructor(
    readonly reason: 'forbidden' | 'unresolvable',
    message: string,
  ) {
    super(message);
  }
}

/** A checked destination: connect to `address`, and only to it. */
export interface CheckedDestination {
  /** The URL's host name (without IPv6 brackets): the Host header and the TLS server name. */
  host: string;
  address: string;
  family: 4 | 6;
}

export type Resolver = (host: string) => Promise<{ address: string; family: number }[]>;

const systemResolver: Resolver = (host) => lookup(host, { all: true, verbatim: true });

/**
 * The SSRF guard: resolves a URL's host and accepts it only if every address it resolves to is
 * allowed (a client may connect to any of them). Checked at registration and again before each
 * attempt, because DNS can change in between; the sender then connects to the checked address
 * itself, so a second resolution (DNS rebinding) cannot swap it.
 */
export class DestinationGuard {
  constructor(
    private readonly policy: AddressPolicy,
    private readonly resolve: Resolver = systemResolver,
  ) {}

  async check(url: URL): Promise<CheckedDestination> {
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    let addresses: { address: string; family: number }[];
    if (isIP(host)) {
      addresses = [{ address: host, family: isIP(host) }];
    } else {
      try {
        addresses = await this.resolve(host);
      } catch (error) {
        const code = (error as { code?: string }).code ?? (error as Error).message;
        throw new DestinationError('unresolvable', `${host} does not resolve (${code})`);
      }
    }
    if (!addresses.length) throw new DestinationError('unresolvable', `${host} does not resolve`);
    for (const { address } of addresses) {
      const refusal = this.policy.refusal(address);
      if (refusal) throw new DestinationError('forbidden', `${host} resolves to ${address} (${refusal})`);
    }
    const [first] = addresses as [{ address: string; family: number }];
    return { host, address: first.address, family: first.family === 6 ? 6 : 4 };
  }
}
