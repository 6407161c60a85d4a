/**
 * How long does generating scenes take? Issue 4 asks for 50,000 train scenes (image + caption) in under a
 * minute. Run: node --import tsx bench/data_gen.ts [count] [--size 32|64]
 * Prints one line per dataset: source load time, then wall and CPU time for images + captions, and one
 * loader epoch with flips, tokenization and MLM masking on top.
 */
import { DataLoader, grammarVocab, makeDataset, Tokenizer, type DatasetName } from '../data/index.js';

const args = process.argv.slice(2);
const count = Number(args.find((a) => /^\d+$/.test(a)) ?? 50000);
const sizeAt = args.indexOf('--size');
const imageSize = (sizeAt >= 0 ? Number(args[sizeAt + 1]) : 32) as 32 | 64;
const tok = Tokenizer.fromVocab(grammarVocab());

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
// CPU seconds of this process: the honest number on a shared, loaded machine, where wall time is not
function cpuSeconds(c0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

for (const name of ['mnist-scenes', 'shapes'] as DatasetName[]) {
  let t0 = process.hrtime.bigint();
  let ds: ReturnType<typeof makeDataset>;
  try {
    ds = makeDataset({ name, split: 'train', size: count, imageSize, seed: 1, noise: { fraction: 0.1 } });
  } catch (e) {
    console.log(`${name}: skipped (${(e as Error).message.split('.')[0]})`);
    continue;
  }
  const load = seconds(t0);
  t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const img = new Float32Array(3 * imageSize * imageSize);
  let chars = 0;
  for (let i = 0; i < count; i++) {
    chars += ds.renderInto(i, false, img, 0).length;
  }
  const gen = seconds(t0),
    genCpu = cpuSeconds(c0);
  t0 = process.hrtime.bigint();
  const loader = new DataLoader(ds, { batchSize: 64, tokenizer: tok, seed: 1, flip: 0.5, mlm: {} });
  let rows = 0;
  for (const b of loader) rows += b.batchSize;
  const load2 = seconds(t0);
  console.log(
    `${name} ${imageSize}x${imageSize}: source load ${load.toFixed(2)} s; ` +
      `${count} scenes (image + caption) ${gen.toFixed(2)} s wall, ${genCpu.toFixed(2)} s CPU = ` +
      `${Math.round(count / gen)} scenes/s ` +
      `(${(chars / count).toFixed(1)} chars/caption); one loader epoch (batch 64, flip, tokenize, MLM) ` +
      `${load2.toFixed(2)} s for ${rows} rows`,
  );
}
