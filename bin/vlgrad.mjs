#!/usr/bin/env node
// The `vlgrad` executable (package.json "bin"). In a source checkout it runs bin/vlgrad.ts through
// tsx, so it never picks up a stale build; an installed package (no .ts sources) runs dist/.
import { existsSync } from 'node:fs';

const source = new URL('./vlgrad.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(new URL('../dist/bin/vlgrad.js', import.meta.url).href);
}
