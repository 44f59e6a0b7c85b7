import { BlockList, isIP } from 'node:net';

/** Why an address is or is not a place webhooks may go. Only `public` is. */
export type AddressKind =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'shared'
  | 'link-local'
  | 'unique-local'
  | 'multicast'
  | 'documentation'
  | 'benchmarking'
  | 'reserved'
  | 'invalid';

type Range = [network: string, prefix: number, kind: AddressKind];

// IANA special-purpose registries (RFC 6890 and successors): nothing here is reachable on the
// public internet, and most of it is somebody's internal network.
const IPV4: Range[] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared'], // carrier-grade NAT (RFC 6598)
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'], // includes cloud metadata (169.254.169.254)
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'], // includes the broadcast address
];

const IPV6: Range[] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['64:ff9b:1::', 48, 'private'], // local-use NAT64 (RFC 8215)
  ['100::', 64, 'reserved'], // discard-only
  ['2001::', 23, 'reserved'], // IETF assignments: Teredo, benchmarking, ORCHID
  ['2001:db8::', 32, 'documentation'],
  ['3fff::', 20, 'documentation'],
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'reserved'], // deprecated site-local
  ['ff00::', 8, 'multicast'],
];

function blockLists(ranges: Range[], family: 'ipv4' | 'ipv6'): [BlockList, AddressKind][] {
  return ranges.map(([network, prefix, kind]) => {
    const list = new BlockList();
    list.addSubnet(network, prefix, family);
    return [list, kind];
  });
}

const V4_LISTS = blockLists(IPV4, 'ipv4');
const V6_LISTS = blockLists(IPV6, 'ipv6');

/** The eight 16-bit groups of a valid IPv6 address (a trailing dotted quad included). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const groups = (part: string) => (part ? part.split(':').map((group) => parseInt(group, 16)) : []);
  const start = groups(head);
  const end = tail === undefined ? [] : groups(tail);
  return [...start, ...new Array<number>(8 - start.length - end.length).fill(0), ...end];
}

const dotted = (high: number, low: number) => `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;

/**
 * The IPv4 address an IPv6 one stands for, where the network would deliver it to that IPv4
 * address: IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::).
 * Checking the embedded address closes the "::ffff:127.0.0.1" way around an IPv4 rule.
 */
export function embeddedIPv4(address: string): string | null {
  if (isIP(address) !== 6) return null;
  const g = ipv6Groups(stripZone(address));
  const zero = (from: number, to: number) => g.slice(from, to).every((group) => group === 0);
  if (zero(0, 5) && g[5] === 0xffff) return dotted(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return dotted(g[6]!, g[7]!);
  if (g[0] === 0x2002) return dotted(g[1]!, g[2]!);
  return null;
}

const stripZone = (address: string) => address.split('%')[0]!;

/** What kind of address this is; webhooks go to `public` ones only. */
export function classifyAddress(input: string): AddressKind {
  const address = stripZone(input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input);
  const family = isIP(address);
  if (family === 4) return V4_LISTS.find(([list]) => list.check(address, 'ipv4'))?.[1] ?? 'public';
  if (family !== 6) return 'invalid';
  const embedded = embeddedIPv4(address);
  if (embedded) return classifyAddress(embedded);
  const kind = V6_LISTS.find(([list]) => list.check(address, 'ipv6'))?.[1];
  if (kind) return kind;
  // Only global unicast (2000::/3) is routed on the internet; the rest is reserved.
  return (ipv6Groups(address)[0]! & 0xe000) === 0x2000 ? 'public' : 'reserved';
}

/**
 * The SSRF rule for webhook destinations: public addresses only, plus the operator's explicit
 * exceptions (IPs or CIDR ranges, e.g. a partner reached over a private link, or 127.0.0.1 in
 * tests).
 */
export class AddressPolicy {
  private readonly allowed = new BlockList();

  constructor(allowedPrivate: readonly string[] = []) {
    for (const entry of allowedPrivate) {
      const [network = '', prefix] = entry.split('/');
      const family = isIP(network);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      try {
        if (!family || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) throw new Error();
        if (prefix === undefined) this.allowed.addAddress(network, type);
        else this.allowed.addSubnet(network, Number(prefix), type);
      } catch {
        throw new Error(`WEBHOOK_ALLOWED_PRIVATE_ADDRESSES: "${entry}" is not an IP address or CIDR range`);
      }
    }
  }

  /** Null when webhooks may go to the address; otherwise what kind of address it is. */
  refusal(address: string): Exclude<AddressKind, 'public'> | null {
    const kind = classifyAddress(address);
    if (kind === 'public') return null;
    if (kind !== 'invalid' && this.isAllowed(stripZone(address))) return null;
    return kind;
  }

  private isAllowed(address: string): boolean {
    const family = isIP(address) === 4 ? 'ipv4' : 'ipv6';
    if (this.allowed.check(address, family)) return true;
    const embedded = embeddedIPv4(address);
    return embedded !== null && this.allowed.check(embedded, 'ipv4');
  }
}
