// The console's admin part: the admin key and secret (typed by the operator, kept in this tab's
// sessionStorage only, never sent: requests carry an HMAC signature), halt/resume per instrument,
// the kill switch per account, a confirm step before anything is sent, and the answers, newest
// first. Without WebCrypto (a page not on https or localhost) it says so and sends nothing.

import { ADMIN_ANSWERS_MAX, ADMIN_CREDENTIAL_LENGTH_MAX } from '../limits.js';
import type { PageContext } from '../context.js';
import { type AdminAction, describeAction, parseAccount, sendAdminAction } from './admin-actions.js';
import { type Credentials, signingAvailable } from '../signing.js';
import { el, labelled } from '../dom.js';

const STORE_KEY = 'matchbook.console.adminKey';
const STORE_SECRET = 'matchbook.console.adminSecret';

export interface AdminPanel {
  root: HTMLElement;
  /** The instruments' trading status (GET /v1/instruments), shown beside the halt buttons. */
  setInstrumentStatus(text: string): void;
}

function credentialInputs(): { box: HTMLElement; creds(): Credentials | undefined } {
  const max = String(ADMIN_CREDENTIAL_LENGTH_MAX);
  const key = el('input', { id: 'console-admin-key', autocomplete: 'off', spellcheck: 'false', maxlength: max });
  const secret = el('input', { id: 'console-admin-secret', type: 'password', autocomplete: 'off', maxlength: max });
  key.value = sessionStorage.getItem(STORE_KEY) ?? '';
  secret.value = sessionStorage.getItem(STORE_SECRET) ?? '';
  key.addEventListener('input', () => sessionStorage.setItem(STORE_KEY, key.value));
  secret.addEventListener('input', () => sessionStorage.setItem(STORE_SECRET, secret.value));
  const forget = el('button', { type: 'button', id: 'console-admin-forget' }, 'Forget');
  forget.addEventListener('click', () => {
    key.value = secret.value = '';
    sessionStorage.removeItem(STORE_KEY);
    sessionStorage.removeItem(STORE_SECRET);
  });
  const box = el('div', { class: 'console-admin-key' });
  box.append(
    labelled('Admin API key ', key),
    labelled('Secret ', secret),
    forget,
    el('span', { class: 'console-note' }, 'kept in this tab only'),
  );
  return {
    box,
    creds: () =>
      key.value.trim() === '' || secret.value === ''
        ? undefined
        : { apiKey: key.value.trim(), hmacSecret: secret.value },
  };
}

interface ActionControls {
  box: HTMLElement;
  buttons: HTMLButtonElement[];
}

/** The action buttons; `ask` gets the action chosen (or why it cannot be built). */
function actionControls(ctx: PageContext, ask: (a: AdminAction | string) => void): ActionControls {
  const symbol = el('select', { id: 'console-admin-symbol' });
  for (const s of ctx.instruments.keys()) symbol.add(new Option(s, s, false, s === ctx.symbol));
  ctx.onSymbol((s) => {
    symbol.value = s;
  });
  const account = el('input', { id: 'console-admin-account', inputmode: 'numeric', size: '8', maxlength: '16' });
  const button = (id: string, text: string, action: () => AdminAction | string) => {
    const b = el('button', { type: 'button', id }, text);
    b.addEventListener('click', () => ask(action()));
    return b;
  };
  const killSwitch = (active: boolean) => (): AdminAction | string => {
    const a = parseAccount(account.value);
    return a.ok ? { kind: 'kill-switch', account: a.account, active } : a.error;
  };
  const buttons = [
    button('console-halt', 'Halt', () => ({ kind: 'halt', symbol: symbol.value })),
    button('console-resume', 'Resume', () => ({ kind: 'resume', symbol: symbol.value })),
    button('console-kill-on', 'Engage kill switch', killSwitch(true)),
    button('console-kill-off', 'Release kill switch', killSwitch(false)),
  ];
  const box = el('div', { class: 'console-admin-actions' });
  const instrumentRow = el('div');
  instrumentRow.append(labelled('Instrument ', symbol), buttons[0]!, buttons[1]!);
  const accountRow = el('div');
  accountRow.append(labelled('Account ', account), buttons[2]!, buttons[3]!);
  box.append(instrumentRow, accountRow);
  return { box, buttons };
}

function addAnswer(list: HTMLOListElement, ok: boolean, text: string): void {
  list.prepend(el('li', { class: ok ? 'ok' : 'failed' }, text));
  while (list.children.length > ADMIN_ANSWERS_MAX) list.lastElementChild!.remove();
}

export function adminPanel(ctx: PageContext, onDone: () => void): AdminPanel {
  const root = el('section', { class: 'console-admin' });
  const creds = credentialInputs();
  const status = el('p', { class: 'console-instruments', id: 'console-instruments' });
  const confirm = el('div', { id: 'console-confirm', class: 'console-confirm', role: 'alertdialog' });
  const confirmText = el('span', { class: 'console-confirm-text' });
  const yes = el('button', { type: 'button', id: 'console-confirm-yes' }, 'Confirm');
  const no = el('button', { type: 'button', id: 'console-confirm-no' }, 'Cancel');
  confirm.append(confirmText, yes, no);
  confirm.hidden = true;
  const answers = el('ol', { id: 'console-admin-answers', class: 'console-answers' });
  const stamp = () => new Date(ctx.serverNowMs()).toISOString().slice(11, 19);
  let pending: AdminAction | undefined;
  const controls = actionControls(ctx, (a) => {
    if (typeof a === 'string') return addAnswer(answers, false, `${stamp()} ${a}`);
    if (creds.creds() === undefined)
      return addAnswer(answers, false, `${stamp()} enter the admin key and secret first`);
    pending = a;
    confirmText.textContent = `${describeAction(a)}? `;
    confirm.hidden = false;
  });
  const setBusy = (busy: boolean) => {
    for (const b of [...controls.buttons, yes, no]) b.disabled = busy;
  };
  no.addEventListener('click', () => {
    pending = undefined;
    confirm.hidden = true;
  });
  yes.addEventListener('click', () => {
    const a = pending;
    const c = creds.creds();
    if (a === undefined || c === undefined) return;
    setBusy(true);
    void sendAdminAction(a, c, ctx.serverNowMs()).then((answer) => {
      addAnswer(answers, answer.ok, `${stamp()} ${describeAction(a)}: ${answer.text}`);
      pending = undefined;
      confirm.hidden = true;
      setBusy(false);
      onDone();
    });
  });
  root.append(el('h2', {}, 'Admin'), creds.box, controls.box, status, confirm, answers);
  if (!signingAvailable()) {
    setBusy(true);
    root.append(
      el(
        'p',
        { class: 'failed' },
        'Admin actions sign in the browser (WebCrypto): open the page over https or on localhost.',
      ),
    );
  }
  return { root, setInstrumentStatus: (text) => (status.textContent = text) };
}
