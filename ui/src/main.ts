// The page's entry: loads the context, mounts each view's panels once, and switches views by the
// URL's hash (#/market, #/ops). The market panels keep running while hidden so a view switch is
// instant; the console asks the cluster's status only while it is on screen (every poll asks every member).

import { mountConsole } from './console/console.js';
import { loadContext, type PageContext } from './context.js';
import { PAGE_LOAD_RETRY_MS_MAX, PAGE_LOAD_RETRY_MS_MIN } from './limits.js';
import { mountMarket } from './market/market-view.js';
import { mountTicket } from './ticket/mount.js';

type View = 'market' | 'ops';

function viewOfHash(): View {
  return location.hash.startsWith('#/ops') ? 'ops' : 'market';
}

function showView(view: View): void {
  for (const v of ['market', 'ops'] as const) {
    const el = document.getElementById(`view-${v}`);
    if (el !== null) el.hidden = v !== view;
  }
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a'))
    a.classList.toggle('active', a.dataset.view === view);
}

function symbolPicker(ctx: PageContext): void {
  const select = document.getElementById('symbol') as HTMLSelectElement;
  for (const s of ctx.instruments.keys()) select.add(new Option(s, s, false, s === ctx.symbol));
  select.addEventListener('change', () => ctx.setSymbol(select.value));
}

export function setStatus(text: string): void {
  const el = document.getElementById('status');
  if (el !== null) el.textContent = text;
}

/**
 * The context, asked again after a growing wait while the gateway cannot give it (GET
 * /v1/instruments answers 503 while no replica of a shard answers): the page comes up by itself
 * when the cluster does, and an operator who opened the console during the outage sees it then.
 */
async function loadContextRetrying(): Promise<PageContext> {
  for (let waitMs = PAGE_LOAD_RETRY_MS_MIN; ; waitMs = Math.min(waitMs * 2, PAGE_LOAD_RETRY_MS_MAX)) {
    try {
      return await loadContext();
    } catch (err) {
      setStatus(`cannot load: ${String(err)}; trying again in ${waitMs / 1000} s`);
      await new Promise((wake) => setTimeout(wake, waitMs));
    }
  }
}

async function main(): Promise<void> {
  const ctx = await loadContextRetrying();
  setStatus('');
  symbolPicker(ctx);
  mountMarket(ctx);
  mountTicket(ctx);
  mountConsole(ctx);
  showView(viewOfHash());
  window.addEventListener('hashchange', () => showView(viewOfHash()));
  document.body.dataset.ready = 'true';
}

main().catch((err: unknown) => setStatus(`cannot load: ${String(err)}`));
