import t from 'tap';
import { Rng } from '../../engine/random.js';
import { DataError, IGNORE_INDEX, maskTokens } from '../../data/index.js';

const V = 100,
  PAD = 0,
  UNK = 1,
  CLS = 2,
  SEP = 3,
  MASK = 4;

/** A batch of [CLS] w... [SEP] [PAD]... rows with random lengths. Shapes: ids, mask [B, L]. */
function batch(rng: Rng, B: number, L: number): { ids: Int32Array; mask: Int32Array } {
  const ids = new Int32Array(B * L),
    mask = new Int32Array(B * L);
  for (let b = 0; b < B; b++) {
    const n = rng.int(1, L - 1);
    ids[b * L] = CLS;
    for (let k = 1; k <= n; k++) ids[b * L + k] = rng.int(5, V);
    ids[b * L + n + 1] = SEP;
    for (let k = 0; k <= n + 1; k++) mask[b * L + k] = 1;
  }
  return { ids, mask };
}

/** |x - n p| within 5 binomial standard deviations (false-alarm rate < 1e-6 per check). */
function near(t: { ok(cond: boolean, msg: string): unknown }, x: number, n: number, p: number, what: string): void {
  const sd = Math.sqrt(n * p * (1 - p));
  t.ok(Math.abs(x - n * p) <= 5 * sd, `${what}: ${x} of ${n}, expected ${(n * p).toFixed(0)} ± ${(5 * sd).toFixed(0)}`);
}

t.test('ALBEF masking: 15% Bernoulli, 80/10/10, never [PAD]/[CLS], labels -100 elsewhere', async (t) => {
  const rng = new Rng(1),
    data = new Rng(2);
  let eligible = 0,
    chosen = 0,
    masked = 0,
    unchanged = 0,
    random = 0,
    bad = 0,
    sepChosen = 0;
  for (let draw = 0; draw < 400; draw++) {
    const { ids, mask } = batch(data, 16, 16);
    const r = maskTokens(ids, mask, V, rng, { maskId: MASK, exclude: [PAD, CLS] });
    let count = 0;
    for (let k = 0; k < ids.length; k++) {
      const sel = r.labels[k] !== IGNORE_INDEX;
      if (mask[k] === 1 && ids[k] !== CLS) eligible++;
      if (!sel) {
        if (r.inputIds[k] !== ids[k]) bad++;
        continue;
      }
      count++;
      chosen++;
      if (r.labels[k] !== ids[k] || mask[k] === 0 || ids[k] === CLS || ids[k] === PAD) bad++;
      if (ids[k] === SEP) sepChosen++;
      if (r.inputIds[k] === MASK) masked++;
      else if (r.inputIds[k] === ids[k]) unchanged++;
      else random++;
      if (r.inputIds[k] < 0 || r.inputIds[k] >= V) bad++;
    }
    if (count !== r.numMasked) bad++;
  }
  t.equal(bad, 0, 'labels are the original id exactly where chosen, -100 and untouched elsewhere; no pad/cls');
  near(t, chosen, eligible, 0.15, 'chosen');
  // random replacements can hit [MASK] or the original id (1/V each), so those two absorb a little of the 10%
  near(t, masked, chosen, 0.8 + 0.1 / V, '[MASK]');
  near(t, random, chosen, 0.1 * (1 - 2 / V), 'random id');
  near(t, unchanged, chosen, 0.1 + 0.1 / V, 'unchanged');
  t.ok(sepChosen > 0, `[SEP] may be masked in ALBEF (${sepChosen} times)`);
});

t.test('VLMo masking excludes every special token; a pad id works like an attention mask', async (t) => {
  const rng = new Rng(3),
    data = new Rng(4);
  let specials = 0,
    diff = 0;
  for (let draw = 0; draw < 200; draw++) {
    const { ids, mask } = batch(data, 8, 16);
    const r = maskTokens(ids, PAD, V, rng, { maskId: MASK, exclude: [PAD, UNK, CLS, SEP, MASK], prob: 0.5 });
    for (let k = 0; k < ids.length; k++) if (r.labels[k] !== IGNORE_INDEX && ids[k] < 5) specials++;
    const viaMask = maskTokens(ids, mask, V, new Rng(draw), { maskId: MASK, exclude: [CLS] });
    const viaPad = maskTokens(ids, PAD, V, new Rng(draw), { maskId: MASK, exclude: [CLS] });
    if (!Buffer.from(viaMask.labels.buffer).equals(Buffer.from(viaPad.labels.buffer))) diff++;
  }
  t.equal(specials, 0, 'no special token chosen');
  t.equal(diff, 0, 'pad id and attention mask give the same draws');
});

t.test('zero masked tokens is reported, not forced away; the same rng state gives the same masks', async (t) => {
  const ids = Int32Array.from([CLS, 7, 8, SEP, PAD]);
  const none = maskTokens(ids, PAD, V, new Rng(0), { maskId: MASK, prob: 0 });
  t.equal(none.numMasked, 0);
  t.ok(none.labels.every((l) => l === IGNORE_INDEX));
  const a = maskTokens(ids, PAD, V, new Rng(9), { maskId: MASK, prob: 0.9 });
  const b = maskTokens(ids, PAD, V, new Rng(9), { maskId: MASK, prob: 0.9 });
  t.same([a.inputIds, a.labels], [b.inputIds, b.labels]);
  t.equal(a.labels[0], IGNORE_INDEX, 'default exclusions (buildVocab ids) keep [CLS]');
});

t.test('masking rejects bad options', async (t) => {
  const ids = Int32Array.from([2, 7, 3]);
  t.throws(() => maskTokens(ids, 0, V, new Rng(0), { maskId: MASK, prob: 1.5 }), DataError);
  t.throws(() => maskTokens(ids, 0, 0, new Rng(0), { maskId: MASK }), DataError);
  t.throws(
    () => maskTokens(ids, 0, V, new Rng(0), { maskId: 103 }),
    /pass exclude/,
    'a BERT vocab must say what to exclude',
  );
  t.throws(() => maskTokens(ids, Int32Array.from([1, 1]), V, new Rng(0), { maskId: MASK }), /attention mask/);
});
