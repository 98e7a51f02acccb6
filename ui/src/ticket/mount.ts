// The order ticket (#ticket) and the account's orders (#orders), wired: sign in → the user
// stream's login proves the credentials and names the account → the query API's open orders and
// fills (at the login's min_seq) under the stream's reports → placing and canceling orders, signed.
// Read-only counters for tests on window.__matchbook.ticket.

import type { PageContext } from '../context.js';
import { TICKET_PENDING_REPORTS_MAX } from '../limits.js';
import { type CredentialsForm, credentialsForm } from './credentials-form.js';
import { el, exposeTestHook } from '../dom.js';
import { loadHistory } from './history.js';
import { orderForm, replyText, unansweredText } from './order-form.js';
import { type OrdersPanel, ordersPanel } from './orders-panel.js';
import { OrdersStore, type StreamReport } from './orders-store.js';
import {
  clearCredentials,
  type Credentials,
  loadCredentials,
  SIGNING_UNAVAILABLE,
  saveCredentials,
  type SignedReply,
  signedFetch,
  signingAvailable,
  signRequest,
} from '../signing.js';
import { type LoginAnswer, UserStream } from './user-stream.js';

/** sessionStorage key of the trader's credentials (the console keeps the admin key under its own). */
export const TICKET_CREDENTIALS_KEY = 'matchbook.ticket.credentials';

const counters = { logins: 0, reports: 0, historyLoads: 0, historyErrors: 0 };

interface Session {
  creds: Credentials;
  stream: UserStream;
  /** Reports held while the first read of the query API is on its way (null: none is). */
  pending: StreamReport[] | null;
  /** Bumped per read: an older read's answer is dropped. */
  readId: number;
}

class Ticket {
  private readonly orders = new OrdersStore();
  private session: Session | null = null;
  private readonly panel: OrdersPanel;
  private readonly cancelLine = el('div', { id: 'tkt-cancel-reply', class: 'tkt-note', role: 'status' });
  private readonly form: CredentialsForm;

  constructor(
    private readonly ctx: PageContext,
    ticketEl: HTMLElement,
    ordersEl: HTMLElement,
  ) {
    this.panel = ordersPanel(ctx, ordersEl, this.orders, (id) => this.cancel(id));
    ordersEl.append(this.cancelLine);
    this.form = credentialsForm(
      ctx,
      (c) => this.signIn(c, true),
      () => this.signOut(),
    );
    ticketEl.append(
      this.form.root,
      orderForm(ctx, (body) => this.place(body)),
    );
    this.form.showSignedIn(null);
  }

  place(body: Record<string, unknown>): Promise<SignedReply> {
    if (this.session === null) return Promise.reject(new Error('sign in first'));
    return signedFetch(this.ctx, this.session.creds, 'POST', '/v1/orders', body);
  }

  cancel(id: number): void {
    if (this.session === null) return;
    signedFetch(this.ctx, this.session.creds, 'DELETE', `/v1/orders/${id}`).then(
      (r) => {
        const t = replyText(r);
        this.cancelLine.textContent = t.ok ? `canceled ${id}` : `cancel ${id}: ${t.text}`;
        if (!t.ok) this.redraw(); // the row's button back
      },
      (err: unknown) => {
        this.cancelLine.textContent = unansweredText(`cancel ${id}`, err);
        this.redraw();
      },
    );
  }

  /** Draws the tables again though nothing changed (a failed cancel's button enabled again). */
  private redraw(): void {
    this.orders.version++;
    this.panel.changed();
  }

  signOut(): void {
    this.session?.stream.stop();
    this.session = null;
    clearCredentials(TICKET_CREDENTIALS_KEY);
    this.orders.clear();
    this.panel.note('signed out');
    this.panel.changed();
    this.form.showSignedIn(null);
  }

  signIn(creds: Credentials, remember: boolean): void {
    this.session?.stream.stop();
    // Another key may be another account: nothing of the previous sign-in stays on screen.
    this.orders.clear();
    this.panel.changed();
    if (remember) saveCredentials(TICKET_CREDENTIALS_KEY, creds);
    const s: Session = { creds, stream: undefined as unknown as UserStream, pending: null, readId: 0 };
    s.stream = new UserStream(creds, () => this.ctx.serverNowMs(), {
      onLogin: (answer, resumed) => {
        counters.logins++;
        this.form.showSignedIn(`${answer.api_key} · account ${answer.account}`);
        if (!resumed) this.readHistory(s, answer);
        else this.panel.note(null);
      },
      onReport: (r) => this.onReport(s, r),
      onGap: (answer) => this.readHistory(s, answer),
      onProblem: (text, final) => {
        if (this.session !== s) return; // a stream signed out of or replaced: not what the panel shows
        this.panel.note(text);
        if (!final) return;
        s.stream.stop();
        this.session = null;
        clearCredentials(TICKET_CREDENTIALS_KEY);
        this.form.showSignedIn(null);
      },
    });
    this.session = s;
    this.panel.note('signing in…');
    this.form.showSignedIn(null);
    s.stream.start();
  }

  private onReport(s: Session, r: StreamReport): void {
    if (this.session !== s) return; // a report of a stream being replaced belongs to another sign-in
    counters.reports++;
    if (s.pending === null) this.orders.applyReport(r);
    else if (s.pending.length < TICKET_PENDING_REPORTS_MAX) s.pending.push(r);
    else {
      // Too many while reading: the read is given up (its answer dropped), the stream goes on alone.
      s.readId++;
      for (const p of s.pending) this.orders.applyReport(p);
      this.orders.applyReport(r);
      s.pending = null;
      this.panel.note('history partial: too many reports while reading it');
    }
    this.panel.changed();
  }

  private readHistory(s: Session, login: LoginAnswer): void {
    s.pending = [];
    const id = ++s.readId;
    this.panel.note('reading open orders and fills…');
    loadHistory(this.ctx, s.creds, login.account, login.min_seq).then(
      (h) => {
        if (this.session !== s || s.readId !== id || s.pending === null) return;
        counters.historyLoads++;
        this.orders.loadSnapshot(h.orders, h.fills, h.ordersAsOf, s.pending);
        s.pending = null;
        this.panel.note(null);
        this.panel.changed();
      },
      (err: unknown) => {
        if (this.session !== s || s.readId !== id) return;
        counters.historyErrors++;
        // From the stream alone: what happens from now on, not what was open before.
        for (const r of s.pending ?? []) this.orders.applyReport(r);
        s.pending = null;
        this.panel.note(`history unavailable (query service: ${String(err)}); showing what happens from now on`);
        this.panel.changed();
      },
    );
  }
}

/** Mounts the ticket in #ticket and the orders in #orders; signs in again with this tab's saved credentials. */
export function mountTicket(ctx: PageContext): void {
  const ticketEl = document.getElementById('ticket');
  const ordersEl = document.getElementById('orders');
  if (ticketEl === null || ordersEl === null) return;
  // Read-only: counters, and the pure signing function for the browser-side test vector.
  exposeTestHook('ticket', counters, { signRequest });
  ticketEl.replaceChildren(el('h2', {}, 'Order ticket'));
  if (!signingAvailable()) {
    ticketEl.append(el('p', { class: 'tkt-note', id: 'tkt-unavailable' }, SIGNING_UNAVAILABLE));
    ordersEl.replaceChildren(el('h2', {}, 'Open orders'), el('p', { class: 'tkt-note' }, SIGNING_UNAVAILABLE));
    return;
  }
  const ticket = new Ticket(ctx, ticketEl, ordersEl);
  const saved = loadCredentials(TICKET_CREDENTIALS_KEY);
  if (saved !== null) ticket.signIn(saved, false);
}
