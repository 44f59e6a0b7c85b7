import { AddressPolicy, classifyAddress, embeddedIPv4 } from './address-policy';

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.10', 'private'],
    ['100.64.0.1', 'shared'],
    ['100.127.255.255', 'shared'],
    ['169.254.169.254', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.251', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
  ])('refuses IPv4 %s (%s)', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });

  it.each([
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456:789a::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['2001::1', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b:1::1', 'private'],
    ['2002:7f00:1::', 'loopback'],
    ['::127.0.0.1', 'reserved'],
    ['100::1', 'reserved'],
  ])('refuses IPv6 %s (%s)', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });

  it.each([
    '93.184.215.14',
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '64:ff9b::8.8.8.8',
  ])('accepts the public address %s', (address) => {
    expect(classifyAddress(address)).toBe('public');
  });

  it('says invalid for what is not an IP address', () => {
    expect(classifyAddress('localhost')).toBe('invalid');
    expect(classifyAddress('300.1.1.1')).toBe('invalid');
    expect(classifyAddress('')).toBe('invalid');
  });

  it('finds the IPv4 address inside mapped, NAT64 and 6to4 addresses', () => {
    expect(embeddedIPv4('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(embeddedIPv4('::ffff:c0a8:101')).toBe('192.168.1.1');
    expect(embeddedIPv4('64:ff9b::0a00:0001')).toBe('10.0.0.1');
    expect(embeddedIPv4('2002:0808:0808::1')).toBe('8.8.8.8');
    expect(embeddedIPv4('2606:4700::1')).toBeNull();
    expect(embeddedIPv4('127.0.0.1')).toBeNull();
  });
});

describe('AddressPolicy', () => {
  it('refuses non-public addresses and says why', () => {
    const policy = new AddressPolicy();
    expect(policy.refusal('8.8.8.8')).toBeNull();
    expect(policy.refusal('127.0.0.1')).toBe('loopback');
    expect(policy.refusal('::ffff:127.0.0.1')).toBe('loopback');
    expect(policy.refusal('nonsense')).toBe('invalid');
  });

  it('lets the operator allow private addresses and ranges, and nothing beyond them', () => {
    const policy = new AddressPolicy(['127.0.0.1', '10.20.0.0/16', 'fd00::/8']);
    expect(policy.refusal('127.0.0.1')).toBeNull();
    expect(policy.refusal('::ffff:127.0.0.1')).toBeNull();
    expect(policy.refusal('127.0.0.2')).toBe('loopback');
    expect(policy.refusal('::1')).toBe('loopback');
    expect(policy.refusal('10.20.3.4')).toBeNull();
    expect(policy.refusal('10.21.0.1')).toBe('private');
    expect(policy.refusal('fd00::1')).toBeNull();
    expect(policy.refusal('fc00::1')).toBe('unique-local');
  });

  it('refuses an allowlist entry that is not an address or range, at start', () => {
    expect(() => new AddressPolicy(['localhost'])).toThrow(/WEBHOOK_ALLOWED_PRIVATE_ADDRESSES/);
    expect(() => new AddressPolicy(['10.0.0.0/33'])).toThrow(/WEBHOOK_ALLOWED_PRIVATE_ADDRESSES/);
  });
});
