import { describe, expect, it } from 'vitest';
import { checkpointBytes, loadModel } from './stories260k.ts';
import { parseLlama2cCheckpoint } from '../../src/model/llama2c.ts';
import { llamaConfig } from '../../src/model/config.ts';
import { CheckpointFormatError, ModelConfigError } from '../../src/model/errors.ts';
import { llamaWeightShapes, shapeSize } from '../../src/model/weights.ts';

describe('llama2.c version-0 checkpoint', () => {
  it('reads stories260K.bin: config, names, shapes and values', () => {
    const model = loadModel();
    expect(model.config).toEqual({
      architecture: 'llama', dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, maxSeqLen: 512,
      normEps: 1e-5, ropeTheta: 10000, ropeLayout: 'interleaved', tiedEmbeddings: true, attentionBias: false,
    });
    expect(Object.keys(model.tensors).sort()).toEqual(Object.keys(model.shapes).sort());
    expect(model.shapes['layers.4.wk']).toEqual([32, 64]);
    let params = 0;
    for (const [name, data] of Object.entries(model.tensors)) {
      expect(data.length, name).toBe(shapeSize(model.shapes[name]));
      expect(data.every(Number.isFinite), name).toBe(true);
      params += data.length;
    }
    expect(params).toBe(260_032); // file floats minus the 2 x 512 x 4 legacy RoPE table entries
    // Byte 28 is the first float of the token embedding.
    const bytes = checkpointBytes();
    expect(model.tensors.tokEmbedding[0]).toBe(new DataView(bytes.buffer, bytes.byteOffset).getFloat32(28, true));
    expect(model.tensors.classifier).toBeUndefined();
  });

  it('reads an untied classifier when vocab_size is negative, and an unaligned buffer', () => {
    const bytes = checkpointBytes();
    const extra = new Float32Array(512 * 64).map((_, i) => i);
    const untied = new Uint8Array(bytes.length + extra.byteLength + 1).subarray(1); // byteOffset 1: unaligned
    untied.set(bytes);
    untied.set(new Uint8Array(extra.buffer), bytes.length);
    new DataView(untied.buffer, untied.byteOffset).setInt32(20, -512, true);
    const model = parseLlama2cCheckpoint(untied);
    expect(model.config.tiedEmbeddings).toBe(false);
    expect(model.tensors.classifier).toEqual(extra);
    expect(model.tensors.finalNorm).toEqual(loadModel().tensors.finalNorm);
  });

  it('names the byte offset and the tensor of a truncated file', () => {
    const bytes = checkpointBytes();
    const err = catchError(() => parseLlama2cCheckpoint(bytes.subarray(0, 1_000_000), { name: 'stories260K.bin' }));
    expect(err).toBeInstanceOf(CheckpointFormatError);
    expect(err.message).toMatch(/^stories260K\.bin: expected 1,056,540 bytes for dim=64, hidden_dim=172, n_layers=5, n_heads=8, n_kv_heads=4, vocab_size=512, seq_len=512 \(tied classifier\), got 1,000,000: the file ends at byte 1,000,000, inside layers\.\d\.w\d/);
    expect((err as CheckpointFormatError).byteOffset).toBe(1_000_000);
    expect(() => parseLlama2cCheckpoint(bytes.subarray(0, 20), { name: 'x.bin' })).toThrow('x.bin: expected a 28-byte header of 7 int32, got 20 bytes');
  });

  it('explains an oversized file and a wrong header', () => {
    const bytes = checkpointBytes();
    const tooBig = new Uint8Array(bytes.length + 512 * 64 * 4);
    tooBig.set(bytes);
    expect(() => parseLlama2cCheckpoint(tooBig)).toThrow(/131,072 bytes follow the last tensor — exactly an untied classifier/);

    const badHeads = bytes.slice();
    new DataView(badHeads.buffer).setInt32(12, 6, true); // n_heads = 6 does not divide dim 64
    const err = catchError(() => parseLlama2cCheckpoint(badHeads, { name: 'bad.bin' })) as CheckpointFormatError;
    expect(err).toBeInstanceOf(CheckpointFormatError);
    expect(err.message).toMatch(/header describes an impossible model: bad\.bin: dim \(64\) must be divisible by nHeads \(6\)/);

    const negative = bytes.slice();
    new DataView(negative.buffer).setInt32(8, -1, true);
    expect(() => parseLlama2cCheckpoint(negative)).toThrow(/header field n_layers \(int32 at byte 8\) is -1/);

    const versioned = bytes.slice();
    new DataView(versioned.buffer).setUint32(0, 0x616b3432, true);
    expect(() => parseLlama2cCheckpoint(versioned)).toThrow(/magic "ak42".*only version 0/);
  });
});

describe('LlamaConfig validation', () => {
  const sizes = { dim: 64, hiddenDim: 172, nLayers: 2, nHeads: 8, nKvHeads: 4, vocabSize: 512, maxSeqLen: 128 };
  it('names the field and the problem', () => {
    expect(() => llamaConfig({ ...sizes, nKvHeads: 3 })).toThrow('model config: nHeads (8) must be divisible by nKvHeads (3)');
    expect(() => llamaConfig({ ...sizes, dim: 60 })).toThrow('dim (60) must be divisible by nHeads (8)');
    expect(() => llamaConfig({ ...sizes, nLayers: 0 })).toThrow('nLayers must be a positive integer, got 0');
    expect(() => llamaConfig({ ...sizes, ropeLayout: 'neox' as never })).toThrow(ModelConfigError);
    const err = catchError(() => llamaConfig({ ...sizes, normEps: 0 })) as ModelConfigError;
    expect([err.field, err.problem]).toEqual(['normEps', 'must be in (0, 1), got 0']);
  });
  it('lists biases and an untied classifier in the weight shapes', () => {
    const shapes = llamaWeightShapes(llamaConfig({ ...sizes, attentionBias: true, tiedEmbeddings: false }));
    expect(shapes['layers.1.bk']).toEqual([32]);
    expect(shapes.classifier).toEqual([512, 64]);
  });
});

function catchError(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}
