// uWebSockets.js route matching, pure (no I/O): patterns of static segments, `:name` parameters
// and a trailing `*` wildcard; the most specific route wins whatever the order of registration
// (uWS 20: static before parameter before wildcard, segment by segment; a method's own route
// before `any`). Parameters are returned raw (percent-encoded), as uWS's getParameter does.

export type RouteMethod = string; // lower case, or 'any'

export interface Route<H> {
  method: RouteMethod;
  segments: readonly string[];
  handler: H;
}

export interface RouteMatch<H> {
  handler: H;
  params: string[];
}

export function parsePattern(pattern: string): string[] {
  return pattern.split('/').slice(1);
}

/** Rank of a pattern segment: higher is more specific. */
function segmentRank(seg: string): number {
  if (seg === '*') return 0;
  if (seg.startsWith(':')) return 1;
  return 2;
}

/** The parameters when `segments` matches `path` (split on '/'), else undefined. */
function matchSegments(segments: readonly string[], path: readonly string[]): string[] | undefined {
  const params: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    if (seg === '*') return params; // the rest of the path, however long
    const part = path[i];
    if (part === undefined) return undefined;
    if (seg.startsWith(':')) params.push(part);
    else if (seg !== part) return undefined;
  }
  return segments.length === path.length ? params : undefined;
}

/** Negative when `a` is more specific than `b`. */
function compareRoutes<H>(a: Route<H>, b: Route<H>): number {
  const n = Math.max(a.segments.length, b.segments.length);
  for (let i = 0; i < n; i++) {
    const ra = a.segments[i] === undefined ? -1 : segmentRank(a.segments[i]!);
    const rb = b.segments[i] === undefined ? -1 : segmentRank(b.segments[i]!);
    if (ra !== rb) return rb - ra;
  }
  return (a.method === 'any' ? 1 : 0) - (b.method === 'any' ? 1 : 0);
}

export class Router<H> {
  private readonly routes: Route<H>[] = [];

  add(method: RouteMethod, pattern: string, handler: H): void {
    this.routes.push({ method, segments: parsePattern(pattern), handler });
    this.routes.sort(compareRoutes);
  }

  /** The most specific route for a lower-case method and a path without its query. */
  match(method: string, url: string): RouteMatch<H> | undefined {
    const path = parsePattern(url);
    for (const r of this.routes) {
      if (r.method !== 'any' && r.method !== method) continue;
      const params = matchSegments(r.segments, path);
      if (params !== undefined) return { handler: r.handler, params };
    }
    return undefined;
  }
}
