#!/usr/bin/env node
// The `vlgrad` executable (package.json "bin"): runs the compiled dist/bin/vlgrad.js when the
// package is built, else bin/vlgrad.ts through tsx (a source checkout).
import { existsSync } from 'node:fs';

const built = new URL('../dist/bin/vlgrad.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('./vlgrad.ts', import.meta.url).href);
}
