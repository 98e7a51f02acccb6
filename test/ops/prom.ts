// Reading a Prometheus text exposition in tests: samples by name and a subset of their labels.

import { type PromSample, parsePromText } from '../../ops/prom-text.js';

export type Sample = PromSample;

/** Every sample line of an exposition (comments skipped): ops/prom-text.ts, the reader the page's console uses. */
export const parseExposition: (text: string) => Sample[] = parsePromText;

/** The samples of `name` whose labels include `labels`. */
export function samples(text: string, name: string, labels: Record<string, string> = {}): Sample[] {
  return parseExposition(text).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

/** The value of the one sample of `name` with these labels (undefined if absent; throws if several match). */
export function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples(text, name, labels);
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

export async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.text() };
}
