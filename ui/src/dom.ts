// The page's DOM helpers, shared by every panel: elements whose text is set through textContent
// only (server data never goes through innerHTML), and the read-only test hook each panel exposes.

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  text?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A labelled control: <label>text control</label>. */
export function labelled(text: string, control: HTMLElement): HTMLLabelElement {
  const l = el('label', {}, text);
  l.append(control);
  return l;
}

/**
 * `window.__matchbook[name]`: a frozen object with a getter per key of `counters` (the live value,
 * which a test can read and nothing can change) and the `extra` values as they are.
 */
export function exposeTestHook(name: string, counters: object, extra: Record<string, unknown> = {}): void {
  const w = window as unknown as { __matchbook?: Record<string, unknown> };
  w.__matchbook ??= {};
  const view: Record<string, unknown> = { ...extra };
  for (const key of Object.keys(counters))
    Object.defineProperty(view, key, { get: () => (counters as Record<string, unknown>)[key], enumerable: true });
  Object.defineProperty(w.__matchbook, name, { value: Object.freeze(view), enumerable: true });
}
