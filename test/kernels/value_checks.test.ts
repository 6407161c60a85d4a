/**
 * Input checks that need values, not just shapes (issue 13): oneHot's class range and NaN/±Infinity
 * to int32 raise the same error on every device. Where the values can be read synchronously the op
 * throws; on webgpu (asynchronous) ids uploaded from the host are checked at once, and values the
 * device computed are checked when they arrive: the device's next read rejects, as a CUDA device-side
 * assert surfaces at the next synchronization. The device works normally afterwards.
 */
import t from 'tap';
import * as vg from '../../engine/index.js';
import { forEachBackend } from '../helpers/backends.js';

const ONE_HOT = /^oneHot: class id (3|-1) at index 1 of \[2\] is out of range for numClasses 3 \(expected 0 to 2\)$/;
const NAN_CAST = /^cast \[2\] float32 to int32: value NaN at index 1 does not fit int32/;

t.test('oneHot out of range and NaN to int32 are refused on every device', async (t) => {
  await forEachBackend(t, async (t, be) => {
    const i32 = (xs: number[]) => vg.tensor(Int32Array.from(xs), { device: be });
    /** Runs the op and reads its result: the error comes from one or the other. */
    const attempt = async (f: () => vg.Tensor): Promise<number[]> => Array.from(await f().data());
    await t.rejects(
      attempt(() => vg.oneHot(i32([0, 3]), 3)),
      ONE_HOT,
      'ids from the host: id = C',
    );
    await t.rejects(
      attempt(() => vg.oneHot(i32([0, -1]), 3)),
      ONE_HOT,
      'ids from the host: id -1',
    );
    await t.rejects(
      attempt(() => vg.oneHot(i32([0, 1]).mul(i32([1, 3])), 3)),
      ONE_HOT,
      'ids computed on the device: id = C',
    );
    await t.rejects(
      attempt(() =>
        vg
          .tensor([0.5, 1], { device: be })
          .mul(vg.tensor([1, NaN], { device: be }))
          .to('int32'),
      ),
      NAN_CAST,
      'a NaN computed on the device, cast to int32',
    );
    await t.rejects(
      attempt(() => vg.tensor([0.5, NaN], { device: be }).to('int32')),
      NAN_CAST,
      'an uploaded NaN',
    );
    t.same(await attempt(() => vg.oneHot(i32([2, 0]), 3).sum(0)), [1, 0, 1], 'valid ids after the errors');
    t.same(await attempt(() => vg.tensor([2.7, -1.5], { device: be }).to('int32')), [2, -1], 'casts truncate');
    if ((be as { isAsync?: boolean }).isAsync) {
      // A failed check reports once, at the next read of anything on the device.
      const bad = vg.oneHot(i32([0, 1]).mul(i32([1, 3])), 3);
      await t.rejects(vg.ones([1], { device: be }).data(), ONE_HOT, 'the next read on the device reports it');
      t.same(Array.from(await vg.ones([1], { device: be }).data()), [1], 'and only once');
      bad.dispose();
    }
  });
});
