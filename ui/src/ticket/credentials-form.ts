// The sign-in form of #ticket: an API key (the gateway's demo keys, or any typed) and its secret
// (an HMAC secret, or an Ed25519 seed in base64). Kept in this tab's sessionStorage only; the
// secret is never sent, only signatures made with it.

import type { PageContext } from '../context.js';
import { el, labelled } from '../dom.js';
import { select } from './dom.js';
import type { Credentials } from '../signing.js';

const OTHER_KEY = '';

export interface CredentialsForm {
  root: HTMLElement;
  /** Shows "signed in as …" and the sign-out button, or the form. */
  showSignedIn(text: string | null): void;
}

export function credentialsForm(
  ctx: PageContext,
  onSignIn: (c: Credentials) => void,
  onSignOut: () => void,
): CredentialsForm {
  const root = el('form', { id: 'tkt-login', autocomplete: 'off' });
  const keys: [string, string][] = ctx.config.demo_keys.map((k) => [k.api_key, `${k.api_key} (account ${k.account})`]);
  const keySelect = select('tkt-apikey', [...keys, [OTHER_KEY, 'other key…']]);
  const keyText = el('input', { id: 'tkt-apikey-text', placeholder: 'API key', spellcheck: 'false' });
  const kind = select('tkt-secret-kind', [
    ['hmac', 'HMAC secret'],
    ['ed25519', 'Ed25519 seed (base64)'],
  ]);
  const secret = el('input', { id: 'tkt-secret', type: 'password', placeholder: 'secret', autocomplete: 'off' });
  const signIn = el('button', { id: 'tkt-signin', type: 'submit' }, 'Sign in');
  const form = el('div', { class: 'tkt-fields' });
  form.append(labelled('Key', keySelect), keyText, labelled('Secret', kind), secret, signIn);
  const who = el('span', { id: 'tkt-who' });
  const signOut = el('button', { id: 'tkt-signout', type: 'button' }, 'Sign out');
  const signedIn = el('div', { class: 'tkt-signedin' });
  signedIn.append(who, signOut);
  root.append(form, signedIn);
  const syncKeyText = () => {
    keyText.hidden = keySelect.value !== OTHER_KEY;
  };
  keySelect.addEventListener('change', syncKeyText);
  syncKeyText();
  root.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const apiKey = keySelect.value === OTHER_KEY ? keyText.value.trim() : keySelect.value;
    if (apiKey === '' || secret.value === '') return;
    const c: Credentials =
      kind.value === 'ed25519'
        ? { apiKey, ed25519SeedBase64: secret.value.trim() }
        : { apiKey, hmacSecret: secret.value };
    secret.value = '';
    onSignIn(c);
  });
  signOut.addEventListener('click', () => onSignOut());
  return {
    root,
    showSignedIn(text) {
      form.hidden = text !== null;
      signedIn.hidden = text === null;
      who.textContent = text ?? '';
    },
  };
}
