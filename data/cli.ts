/**
 * Command line for the data module:
 *   node --import tsx data/cli.ts grid --out docs/scenes.png [--dataset mnist-scenes] [--count 12] ...
 *   node --import tsx data/cli.ts vocab --out vocab.txt
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { DATASET_NAMES, type DatasetName } from './attributes.js';
import { makeDataset } from './dataset.js';
import { renderGrid } from './grid.js';
import { encodePng } from './png.js';
import type { Split } from './splits.js';
import { grammarVocab } from './vocab.js';

const USAGE = `usage:
  grid  --out FILE.png [--dataset ${DATASET_NAMES.join('|')}] [--split train|val|test] [--count 12]
        [--cols 4] [--seed 0] [--image-size 32|64] [--noise FRACTION]
        writes a PNG grid of sample scenes with their captions
  vocab --out FILE.txt   writes the caption grammar's vocab.txt`;

type Flags = Record<string, string>;

function parseFlags(args: string[]): Flags {
  const flags: Flags = {};
  for (let k = 0; k < args.length; k += 2) {
    const key = args[k],
      value = args[k + 1];
    if (!key.startsWith('--') || value === undefined) throw new Error(`bad argument '${key}'`);
    flags[key.slice(2)] = value;
  }
  return flags;
}

function int(flags: Flags, key: string, dflt: number): number {
  if (flags[key] === undefined) return dflt;
  const v = Number(flags[key]);
  if (!Number.isFinite(v)) throw new Error(`--${key} must be a number, got '${flags[key]}'`);
  return v;
}

function grid(flags: Flags): string {
  const imageSize = int(flags, 'image-size', 64) as 32 | 64,
    count = int(flags, 'count', 12);
  const noise = flags.noise === undefined ? undefined : { fraction: Number(flags.noise) };
  const ds = makeDataset({
    name: (flags.dataset ?? 'mnist-scenes') as DatasetName,
    split: (flags.split ?? 'train') as Split,
    size: count,
    imageSize,
    seed: int(flags, 'seed', 0),
    noise,
  });
  const cells = Array.from({ length: count }, (_, i) => {
    const item = ds.get(i);
    const tags = [item.noisy ? `noisy ${item.noiseKind}` : '', item.heldOut ? 'held out' : ''].filter(Boolean);
    return { image: item.image, caption: tags.length ? `${item.caption} (${tags.join(', ')})` : item.caption };
  });
  const g = renderGrid(cells, { imageSize, cols: int(flags, 'cols', 4) });
  writeFileSync(flags.out, encodePng(g.width, g.height, g.rgb));
  return `wrote ${flags.out} (${g.width}x${g.height}, ${count} ${ds.name} scenes)`;
}

/** Run a command; returns the process exit code (0 ok, 1 failure, 2 usage). */
export function main(argv: string[], log: (s: string) => void = console.log): number {
  const [cmd, ...rest] = argv;
  if (cmd !== 'grid' && cmd !== 'vocab') {
    log(USAGE);
    return cmd === undefined || cmd === '--help' ? 0 : 2;
  }
  let flags: Flags;
  try {
    flags = parseFlags(rest);
  } catch (e) {
    log(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!flags.out) {
    log(`--out is required\n${USAGE}`);
    return 2;
  }
  try {
    if (cmd === 'grid') log(grid(flags));
    else {
      writeFileSync(flags.out, `${grammarVocab().join('\n')}\n`);
      log(`wrote ${flags.out}`);
    }
    return 0;
  } catch (e) {
    log(`error: ${(e as Error).message}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
