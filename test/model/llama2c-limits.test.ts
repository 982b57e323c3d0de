// A llama2.c header that lies about its size is caught from the file size alone, before anything per
// layer is built (n_layers = 1,000,000 used to build tables for every layer and reach 1.8 GB).
import { describe, expect, it } from 'vitest';
import { checkpointBytes } from './stories260k.ts';
import { parseLlama2cCheckpoint } from '../../src/model/llama2c.ts';
import { CheckpointFormatError } from '../../src/model/errors.ts';
import { errorOf as errorOfType } from '../helpers/errors.ts';

function withHeader(field: number, value: number): Uint8Array {
  const bytes = checkpointBytes().slice();
  new DataView(bytes.buffer).setInt32(field * 4, value, true);
  return bytes;
}

const errorOf = (f: () => unknown) => errorOfType<CheckpointFormatError>(f);

describe('llama2.c header sizes against the file size', () => {
  it('names n_layers at once when the header claims a million layers over a 5-layer file', () => {
    const start = performance.now();
    const err = errorOf(() => parseLlama2cCheckpoint(withHeader(2, 1_000_000), { name: 'lying.bin' }));
    expect(performance.now() - start).toBeLessThan(500);
    expect(err).toBeInstanceOf(CheckpointFormatError);
    expect([err.field, err.byteOffset]).toEqual(['n_layers', 8]);
    expect(err.message).toBe('lying.bin: header field n_layers (int32 at byte 8) is 1,000,000, but the file\'s 1,056,540 bytes hold exactly 5 layers ' +
      'of the other sizes in the header (dim=64, hidden_dim=172, n_layers=1000000, n_heads=8, n_kv_heads=4, vocab_size=512, seq_len=512, tied classifier); ' +
      'the header does not match the weights: re-export the checkpoint');
  }, 5000);

  it('names n_layers when it is smaller than the layers stored (4 over a 5-layer file)', () => {
    const err = errorOf(() => parseLlama2cCheckpoint(withHeader(2, 4), { name: 'four.bin' }));
    expect(err.field).toBe('n_layers');
    expect(err.message).toMatch(/^four\.bin: header field n_layers \(int32 at byte 8\) is 4, but the file's 1,056,540 bytes hold exactly 5 layers/);
  });

  it('reports the largest allowed sizes against a small file quickly, naming where the file ends', () => {
    const start = performance.now();
    // hidden_dim, vocab_size and seq_len at the 2^24 cap (n_layers at the cap is named like the million above).
    for (const [field, value] of [[1, 1 << 24], [5, 1 << 24], [6, 1 << 24]]) {
      const err = errorOf(() => parseLlama2cCheckpoint(withHeader(field, value), { name: 'big.bin' }));
      expect(err, `field ${field}`).toBeInstanceOf(CheckpointFormatError);
      expect(err.message).toMatch(/^big\.bin: expected [\d,]+ bytes for .*got 1,056,540: the file ends at byte 1,056,540, inside .*; it is truncated$/);
    }
    expect(performance.now() - start).toBeLessThan(1000);
  }, 5000);

  it('still loads the real file and names the tensor a truncated file ends in', () => {
    expect(Object.keys(parseLlama2cCheckpoint(checkpointBytes()).tensors)).toHaveLength(2 + 5 * 9);
    const err = errorOf(() => parseLlama2cCheckpoint(checkpointBytes().subarray(0, 200_000), { name: 'cut.bin' }));
    expect(err.message).toMatch(/the file ends at byte 200,000, inside layers\.4\.wq \(bytes 197,916\.\.214,300\); it is truncated$/);
    expect(err.field).toBeUndefined();
  });
});
