// docs/errors.md and the code agree: every error code (with its HTTP and gRPC status), every
// reason, every engine reject reason, every feed error code and close code defined in the code
// has its row in the reference, and every row names something the code defines. A new reason
// added without its documentation — or a row left behind after one is removed — fails here.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENGINE_REJECT_REASONS, ERROR_STATUS, ErrorCode, ErrorReason, GrpcStatus } from '../../api/errors.js';
import { QUERY_ERROR_STATUS, QueryErrorCode } from '../../events/query/service.js';
import { FeedCloseCode, FeedErrorCode } from '../../feed/types.js';
import { REPO_ROOT } from '../../replicator/process-cluster.js';

const DOC = fs.readFileSync(path.join(REPO_ROOT, 'docs/errors.md'), 'utf8');

/** The table rows (cells, trimmed) of the section under `## heading`, up to the next `## `. */
function rows(heading: string): string[][] {
  const start = DOC.indexOf(`\n## ${heading}\n`);
  expect(start, `section "## ${heading}" in docs/errors.md`).toBeGreaterThan(0);
  const end = DOC.indexOf('\n## ', start + 1);
  const section = DOC.slice(start, end === -1 ? undefined : end);
  return section
    .split('\n')
    .filter((l) => /^\| `[^`]+` \|/.test(l))
    .map((l) =>
      l
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
}

/** First-column names (`X`) of a section's rows; duplicates are an error. */
function names(r: string[][]): string[] {
  const out = r.map((cells) => cells[0]!.replace(/`/g, ''));
  expect(new Set(out).size, 'duplicate rows').toBe(out.length);
  return out;
}

const GRPC_NAME = new Map<number, string>(Object.entries(GrpcStatus).map(([name, n]) => [n, name]));

describe('docs/errors.md', () => {
  it('lists every error code with its HTTP and gRPC status (gateway and query service), and nothing else', () => {
    const r = rows('Codes');
    const all: Record<string, { http: number; grpc: number }> = { ...ERROR_STATUS, ...QUERY_ERROR_STATUS };
    expect(new Set(names(r))).toEqual(new Set([...Object.values(ErrorCode), ...Object.values(QueryErrorCode)]));
    for (const [cell, http, grpc] of r) {
      const code = cell!.replace(/`/g, '');
      expect(Number(http), `${code} HTTP`).toBe(all[code]!.http);
      expect(grpc, `${code} gRPC`).toBe(GRPC_NAME.get(all[code]!.grpc));
    }
  });

  it('lists every reason of api/errors.ts with codes that exist, and nothing else', () => {
    const r = rows('Reasons');
    expect(new Set(names(r))).toEqual(new Set(Object.values(ErrorReason)));
    const codes = new Set<string>([...Object.values(ErrorCode), ...Object.values(QueryErrorCode)]);
    for (const [reason, codeCell] of r)
      for (const c of codeCell!.split(',').map((x) => x.trim()))
        expect(codes.has(c), `${reason}: code ${c}`).toBe(true);
  });

  it('lists every engine reject reason, and nothing else', () => {
    expect(names(rows('Engine reject reasons'))).toEqual([...ENGINE_REJECT_REASONS]);
  });

  it("lists the feed's error codes and close codes, and nothing else", () => {
    const r = rows('Feed (WebSocket and REST)');
    const feedCodes = r.filter((cells) => !/^`\d+`$/.test(cells[0]!));
    const closeCodes = r.filter((cells) => /^`\d+`$/.test(cells[0]!));
    // NOT_FOUND and INTERNAL: the feed's HTTP answers for no route and a failed handler.
    expect(new Set(names(feedCodes))).toEqual(new Set([...Object.values(FeedErrorCode), 'NOT_FOUND', 'INTERNAL']));
    // 1006: what a client sees when uWS drops a connection over the message size (no close frame).
    expect(new Set(names(closeCodes).map(Number))).toEqual(new Set([...Object.values(FeedCloseCode), 1006]));
  });
});
