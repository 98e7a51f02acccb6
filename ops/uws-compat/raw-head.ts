// The request head of a request node:http refused for its method alone. llhttp knows a fixed list
// of methods and rejects any other token (HPE_INVALID_METHOD) before a route sees it; uWS routes
// every method to the `any` handlers, whose answer (e.g. the gateway's 405 METHOD_NOT_ALLOWED with
// a JSON body) a client is owed. Pure: parses the bytes node:http had read (err.rawPacket).

/** RFC 9110 token: what a method may be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The fields of an IncomingMessage CompatHttpRequest reads. */
export interface RawHead {
  method: string;
  url: string;
  headers: Record<string, string>;
  rawHeaders: string[];
}

/** The head when `raw` holds a whole, well-formed one within `headBytesMax`, else undefined. */
export function parseRawHead(raw: Uint8Array | undefined, headBytesMax: number): RawHead | undefined {
  if (raw === undefined) return undefined;
  const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0 || end > headBytesMax) return undefined;
  const lines = text.slice(0, end).split('\r\n');
  const m = /^(\S+) (\S+) HTTP\/1\.[01]$/.exec(lines[0]!);
  if (m === null || !TOKEN.test(m[1]!) || !m[2]!.startsWith('/')) return undefined;
  const headers: Record<string, string> = {};
  const rawHeaders: string[] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) return undefined;
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    rawHeaders.push(key, value);
    const k = key.toLowerCase();
    headers[k] = headers[k] === undefined ? value : `${headers[k]}, ${value}`;
  }
  return { method: m[1]!, url: m[2]!, headers, rawHeaders };
}
