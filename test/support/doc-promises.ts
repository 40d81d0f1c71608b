import { readFileSync } from 'node:fs';
import type { Test } from 'tap';

/**
 * What a documentation page promises, checked at the start of the test that proves it, so the
 * page and the behaviour cannot drift apart unnoticed. `page` is relative to the repository root;
 * whitespace (line breaks) is ignored.
 */
export function docPromises(page: string): (t: Test, ...sentences: string[]) => void {
  const text = readFileSync(new URL(`../../${page}`, import.meta.url), 'utf8').replace(/\s+/g, ' ');
  return (t, ...sentences) => {
    for (const sentence of sentences) t.ok(text.includes(sentence), `${page} says: "${sentence}"`);
  };
}
