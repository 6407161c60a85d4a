// The WebAssembly emitter: LEB128 encodings, and small emitted functions that validate and run.
import t from 'tap';
import {
  ctl,
  f32,
  f32x4,
  flatten,
  forRange,
  get,
  i32,
  local,
  seq,
  sleb,
  uleb,
  v128,
  ModuleBuilder,
} from '../../kernels/wasm/emit.js';
import { buildGemmModule, DEFAULT_CONFIG } from '../../kernels/wasm/matmul_kernel.js';

t.test('LEB128 matches the spec examples', async (t) => {
  t.same(uleb(0), [0x00]);
  t.same(uleb(127), [0x7f]);
  t.same(uleb(128), [0x80, 0x01]);
  t.same(uleb(624485), [0xe5, 0x8e, 0x26]);
  t.same(uleb(2 ** 32 - 1), [0xff, 0xff, 0xff, 0xff, 0x0f]);
  t.same(sleb(0), [0x00]);
  t.same(sleb(-1), [0x7f]);
  t.same(sleb(63), [0x3f]);
  t.same(sleb(64), [0xc0, 0x00]);
  t.same(sleb(-64), [0x40]);
  t.same(sleb(-65), [0xbf, 0x7f]);
  t.same(sleb(-123456), [0xc0, 0xbb, 0x78]);
});

t.test('scalar control flow: sum of 0..n-1 with forRange', async (t) => {
  const mod = new ModuleBuilder();
  const fn = mod.func(['i32'], ['i32'], 'sum');
  const [i, s] = [fn.local('i32'), fn.local('i32')];
  fn.body = seq(
    local.set(s, i32.const(0)),
    forRange(i, i32.const(0), get(0), i32.const(1), local.set(s, i32.add(get(s), get(i)))),
    get(s),
  );
  const bytes = mod.build();
  t.ok(WebAssembly.validate(bytes));
  const sum = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports['sum'] as (n: number) => number;
  t.equal(sum(10), 45);
  t.equal(sum(0), 0);
});

t.test('SIMD on shared memory: y = a*x + y over f32x4 lanes, with calls and if/else', async (t) => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 2, shared: true });
  const mod = new ModuleBuilder();
  mod.importMemory('env', 'memory', 1, 2, true);
  const axpy4 = mod.func(['i32', 'i32', 'i32']); // (aPtr, xPtr, yPtr): four lanes
  axpy4.body = v128.store(
    get(2),
    f32x4.add(v128.load(get(2)), f32x4.mul(v128.load32_splat(get(0)), v128.load(get(1)))),
  );
  const main = mod.func(['i32', 'i32'], ['f32'], 'main'); // (n, negate) -> y[0]
  const i = main.local('i32');
  main.body = seq(
    forRange(
      i,
      i32.const(0),
      get(0),
      i32.const(16),
      ctl.call(axpy4, i32.const(0), i32.add(i32.const(16), get(i)), i32.add(i32.const(256), get(i))),
    ),
    ctl.if(get(1), f32.store(i32.const(256), f32.mul(f32.load(i32.const(256)), f32.const(-1)))),
    f32.load(i32.const(256)),
  );
  const bytes = mod.build();
  t.ok(WebAssembly.validate(bytes));
  const heap = new Float32Array(memory.buffer);
  heap[0] = 2; // a
  heap.set([1, 2, 3, 4, 5, 6, 7, 8], 4); // x
  heap.set([10, 10, 10, 10, 10, 10, 10, 10], 64); // y
  const run = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports['main'] as (
    n: number,
    neg: number,
  ) => number;
  t.equal(run(32, 1), -12);
  t.same([...heap.subarray(64, 72)], [-12, 14, 16, 18, 20, 22, 24, 26]);
  t.equal(f32x4.extract_lane(v128.zero(), 3).at(-1), 3, 'lane immediate follows the opcode');
});

t.test('the GEMM module validates for several tile shapes', async (t) => {
  for (const c of [
    DEFAULT_CONFIG,
    { MR: 4, NR: 8, KC: 64, MC: 32, NC: 64 },
    { MR: 3, NR: 12, KC: 100, MC: 9, NC: 24 },
  ]) {
    t.ok(WebAssembly.validate(buildGemmModule(c)), JSON.stringify(c));
  }
  t.throws(() => buildGemmModule({ MR: 4, NR: 6, KC: 64, MC: 32, NC: 64 }), /bad GemmConfig/);
});

t.test('shuffle32 picks 32-bit lanes from two vectors', async (t) => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const mod = new ModuleBuilder();
  mod.importMemory('env', 'memory', 1, 1, true);
  // out = shuffle(x, y, [3, 4, 1, 6]) where x = mem[0..4), y = mem[4..8)
  mod.func([], [], 'run').body = v128.store(
    i32.const(32),
    v128.shuffle32(v128.load(i32.const(0)), v128.load(i32.const(16)), [3, 4, 1, 6]),
  );
  const heap = new Float32Array(memory.buffer);
  heap.set([0, 1, 2, 3, 4, 5, 6, 7]);
  (new WebAssembly.Instance(new WebAssembly.Module(mod.build()), { env: { memory } }).exports['run'] as () => void)();
  t.same([...heap.subarray(8, 12)], [3, 4, 1, 6]);
});

t.test('nested code flattens to the bytes of the instructions in order', async (t) => {
  // (i32.add (i32.const 1) (local.get 0)), then a raw byte and a nested raw sequence
  const code = seq(i32.add(i32.const(1), get(0)), [0x1a], [[0x01, [0x01]]]);
  t.same(flatten(code), [0x41, 0x01, 0x20, 0x00, 0x6a, 0x1a, 0x01, 0x01]);
  t.same(flatten(i32.const(-123456)), [0x41, 0xc0, 0xbb, 0x78]);
  t.same(
    flatten(ctl.if(get(1), i32.const(0), i32.const(2))),
    [0x20, 0x01, 0x04, 0x40, 0x41, 0x00, 0x05, 0x41, 0x02, 0x0b],
  );
});
