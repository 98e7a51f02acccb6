// The operator console (#console in the ops view): the cluster as GET /v1/ui/cluster gives it,
// polled every CONSOLE_POLL_INTERVAL_MS while on screen and drawn at most once per animation
// frame, the instruments' trading status, and the admin actions behind the admin key.

import type { UiClusterView } from '../../../api/ui-contract.js';
import { getJson, type PageContext } from '../context.js';
import { CONSOLE_POLL_INTERVAL_MS } from '../limits.js';
import { adminPanel } from './admin-panel.js';
import { ClusterPoller } from './cluster-poller.js';
import { clusterTables } from './cluster-tables.js';
import { consoleFigures } from './console-figures.js';
import { el, exposeTestHook } from '../dom.js';

interface InstrumentStatus {
  symbol: string;
  status: string;
}

function consoleOnScreen(): boolean {
  return document.getElementById('view-ops')?.hidden === false && document.visibilityState === 'visible';
}

/** GET /v1/instruments' statuses as one line, at most one request at a time. */
function instrumentStatusLine(show: (text: string) => void): () => void {
  let inFlight = false;
  return () => {
    if (inFlight) return;
    inFlight = true;
    getJson<{ instruments: InstrumentStatus[] }>('/v1/instruments')
      .then((r) => show(r.instruments.map((i) => `${i.symbol}: ${i.status}`).join(' · ')))
      .catch((err: unknown) => show(`instrument status unknown: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => {
        inFlight = false;
      });
  };
}

export function mountConsole(ctx: PageContext): void {
  const root = document.getElementById('console');
  if (root === null) return;
  const tables = clusterTables();
  let last: UiClusterView | undefined;
  let prev: UiClusterView | undefined;
  let frameAsked = false;
  let renders = 0;
  const draw = () => {
    frameAsked = false;
    if (last === undefined) return;
    tables.render(consoleFigures(last, prev));
    const at = new Date(last.time_ms).toISOString().slice(11, 19);
    tables.setUpdated(`updated ${at} UTC (server), every ${CONSOLE_POLL_INTERVAL_MS / 1000} s`, false);
    renders++;
  };
  let refreshStatus: () => void = () => {};
  const poller = new ClusterPoller('/v1/ui/cluster', {
    active: consoleOnScreen,
    onView(view) {
      prev = last;
      last = view;
      if (!frameAsked) {
        frameAsked = true;
        requestAnimationFrame(draw);
      }
      refreshStatus();
    },
    onError: (message) => tables.setUpdated(`cluster view failed: ${message} (retrying)`, true),
  });
  const admin = adminPanel(ctx, () => {
    poller.pollNow();
    refreshStatus();
  });
  refreshStatus = instrumentStatusLine(admin.setInstrumentStatus);
  root.replaceChildren(el('h2', {}, 'Cluster'), tables.root, admin.root);
  // Deferred: the view switch (main.ts's own hashchange listener) may run after this one.
  const wake = () =>
    setTimeout(() => {
      if (consoleOnScreen()) poller.pollNow();
    }, 0);
  window.addEventListener('hashchange', wake);
  document.addEventListener('visibilitychange', wake);
  // Read-only counters for the tests (window.__matchbook.console).
  exposeTestHook('console', {
    get polls() {
      return poller.polls;
    },
    get renders() {
      return renders;
    },
  });
  wake();
}
