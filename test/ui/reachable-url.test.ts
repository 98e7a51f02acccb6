// ui/src/context.ts reachableUrl: an address the server gave with a loopback or wildcard host
// names the server's own machine, which a page opened from another device reaches at the
// hostname it was loaded from.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { reachableUrl } from '../../ui/src/context.js';

beforeEach(() => {
  vi.stubGlobal('location', { hostname: '192.168.1.20' });
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('reachableUrl', () => {
  it('swaps every loopback and wildcard host, IPv4 and IPv6, for the page host', () => {
    for (const host of ['127.0.0.1', 'localhost', '0.0.0.0', '[::]', '[::1]'])
      expect(reachableUrl(`ws://${host}:8091/v1/ws`), host).toBe('ws://192.168.1.20:8091/v1/ws');
  });

  it('keeps any other host and drops a trailing slash', () => {
    expect(reachableUrl('http://10.0.0.5:8081/')).toBe('http://10.0.0.5:8081');
    expect(reachableUrl('wss://feed.example.com/v1/ws')).toBe('wss://feed.example.com/v1/ws');
  });
});
