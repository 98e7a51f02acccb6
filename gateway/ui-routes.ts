// The browser page's routes on the REST port (ui/): the page's static files, held in memory, and
// the two JSON documents it reads besides the public order API (api/ui-contract.ts). The gateway
// knows neither the page nor the cluster's other processes: whoever starts it (processes/) hands
// in the files and the two providers, so gateway/ imports nothing of ui/, events/ or processes/.
//
//   GET /                 the page (index.html)
//   GET /ui/<file>        its script, style sheet and the charting library
//   GET /v1/ui/config     UiConfig: the shards' feeds, the query service's URL
//   GET /v1/ui/cluster    UiClusterView: every member's status and metrics (the operator console)

import type { HttpResponse } from 'uWebSockets.js';
import type { UiClusterView, UiConfig } from '../api/ui-contract.js';

/** One static file of the page, read once at start. */
export interface UiAsset {
  contentType: string;
  body: Uint8Array;
}

export interface UiRoutes {
  /** By URL path: '/' (index.html) and '/ui/…'. */
  assets: ReadonlyMap<string, UiAsset>;
  config(): Promise<UiConfig>;
  cluster(): Promise<UiClusterView>;
}

export type UiRouteKind = 'ui-asset' | 'ui-config' | 'ui-cluster';

/** The UI route of a GET `url`, or undefined when `url` is not one. */
export function uiRouteOf(url: string, ui: UiRoutes | undefined): UiRouteKind | undefined {
  if (ui === undefined) return undefined;
  if (url === '/v1/ui/config') return 'ui-config';
  if (url === '/v1/ui/cluster') return 'ui-cluster';
  if (ui.assets.has(url)) return 'ui-asset';
  return undefined;
}

/** Answers a UI route; `json` writes a JSON body with a status (the edge's writer). */
export function serveUi(
  res: HttpResponse,
  kind: UiRouteKind,
  url: string,
  ui: UiRoutes,
  json: (status: number, body: string) => void,
  isStopped: () => boolean,
): void {
  if (kind === 'ui-asset') {
    const asset = ui.assets.get(url)!;
    // no-cache: the browser revalidates, so a restarted exchange with a new page is never mixed with an old script.
    res
      .writeStatus('200 OK')
      .writeHeader('content-type', asset.contentType)
      .writeHeader('cache-control', 'no-cache')
      .end(asset.body);
    return;
  }
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  const answer: Promise<UiConfig | UiClusterView> = kind === 'ui-config' ? ui.config() : ui.cluster();
  answer.then(
    (doc) => {
      if (!aborted && !isStopped()) res.cork(() => json(200, JSON.stringify(doc)));
    },
    (err: unknown) => {
      if (!aborted && !isStopped())
        res.cork(() => json(500, JSON.stringify({ code: 'INTERNAL', reason: 'INTERNAL', message: String(err) })));
    },
  );
}
