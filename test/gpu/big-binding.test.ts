// A binding larger than 128 MiB is read and written through its last element. Lavapipe reports 128 MiB
// and native/lavapipe-for-dawn.c claims 1 GiB for it (SwiftShader's): this is the check that the claim
// holds on the driver at hand (a stories15M-shaped model's logits at batch 8 x 256 are 250 MB).
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { addForward } from '../../src/ops/elementwise.ts';

const ELEMENTS = 40 * 1024 * 1024 + 12; // 160 MiB and a little, not a multiple of any workgroup
const BYTES = ELEMENTS * 4;

describe('bindings over 128 MiB', () => {
  it('an elementwise kernel reads two and writes one through the end', async (ctx) => {
    const rt = await gpu();
    if (rt.limits.maxStorageBufferBindingSize < BYTES) ctx.skip(`the device binds at most ${rt.limits.maxStorageBufferBindingSize} bytes`);
    const a = new Float32Array(ELEMENTS);
    for (let i = 0; i < ELEMENTS; i++) a[i] = i % 1009;
    const ta = rt.upload(a, [ELEMENTS]);
    const tb = rt.upload(a, [ELEMENTS]);
    const sum = addForward(rt, ta, tb, 0.5);
    const out = await sum.read();
    for (const t of [ta, tb, sum]) t.release();
    let bad = 0;
    const check = (i: number) => { if (out[i] !== 1.5 * (i % 1009)) bad++; };
    for (let i = ELEMENTS - 70_000; i < ELEMENTS; i++) check(i); // the last 280 KB
    for (let i = 0; i < ELEMENTS; i += 4099) check(i); // and a stride through the whole buffer
    expect(bad).toBe(0);
  }, 120_000);
});
