/**
 * The browser-safe entry points (`vlgrad`, `vlgrad/nn`, `vlgrad/models`, `vlgrad/data`,
 * `vlgrad/kernels`) bundle for platform 'browser' with no Node built-in on their import path;
 * `vlgrad/node` is where the Node-only parts live (and the check does see them there).
 */
import t from 'tap';
import { nodeImportsOf } from './node_imports.js';

const BROWSER_ENTRIES: Record<string, string> = {
  vlgrad: 'engine/index.ts',
  'vlgrad/nn': 'nn/index.ts',
  'vlgrad/models': 'models/index.ts',
  'vlgrad/data': 'data/index.ts',
  'vlgrad/kernels': 'kernels/index.ts',
};

for (const [name, entry] of Object.entries(BROWSER_ENTRIES)) {
  t.test(`${name} (${entry}) bundles for the browser without Node built-ins`, async (t) => {
    const found = await nodeImportsOf(entry);
    t.same(
      found.map((f) => `${f.module} <- ${f.importer}`),
      [],
      `${name} must not import Node built-ins`,
    );
  });
}

t.test('the check finds Node built-ins: vlgrad/node (node/index.ts) has them', async (t) => {
  const found = await nodeImportsOf('node/index.ts');
  const modules = new Set(found.map((f) => f.module));
  t.ok(modules.has('node:fs/promises'), `file checkpoints use node:fs/promises (found: ${[...modules].join(', ')})`);
  t.ok(
    found.some((f) => f.importer === 'nn/safetensors_node.ts'),
    'safetensors_node.ts is where the file IO is',
  );
});
