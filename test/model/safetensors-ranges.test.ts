// safetensors weights are read by byte ranges — the header, then one tensor at a time — never as one
// whole-file buffer, so a single file over 2 GiB (a 1B model's model.safetensors) loads. Reversed
// data_offsets are reported as reversed.
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ByteSource, byteSource, parseSafetensors, readSafetensor, readSafetensorsHeader, safetensorToF32 } from '../../src/model/safetensors.ts';
import { loadHfFolder, withRopeLayout } from '../../src/model/hf.ts';
import { hfFolderFiles } from '../../src/model/hf-export.ts';
import { fileByteSource, loadModel } from '../../src/model/source-fs.ts';
import { CheckpointFormatError } from '../../src/model/errors.ts';
import { randomWeights, tinyConfig } from '../helpers/tiny-llama.ts';
import { loadTokenizer } from './stories260k.ts';

const root = mkdtempSync(join(tmpdir(), 'xtf-safetensors-ranges-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const config = tinyConfig({ vocabSize: 512, ropeLayout: 'half', tiedEmbeddings: false });
const model = randomWeights(config, 9);

function writeFolder(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  for (const [file, bytes] of Object.entries(hfFolderFiles(model, loadTokenizer()))) writeFileSync(join(dir, file), bytes);
  return dir;
}

/** `src`, recording every [start, end) read. */
function recording(src: ByteSource, reads: [number, number][]): ByteSource {
  return { name: src.name, size: src.size, read: (start, end) => (reads.push([start, end]), src.read(start, end)) };
}

describe('safetensors by byte ranges', () => {
  it('reads the header, then each tensor once, and never the whole file', async () => {
    const dir = writeFolder('ranges');
    const path = join(dir, 'model.safetensors');
    const size = statSync(path).size;
    const reads: [number, number][] = [];
    const src = recording(await fileByteSource(path, 'model.safetensors'), reads);
    const index = await readSafetensorsHeader(src);
    expect(reads.length).toBe(2); // the 8-byte length, then the JSON header
    expect(reads[0]).toEqual([0, 8]);
    const whole = parseSafetensors(new Uint8Array(await readFile(path)));
    for (const [name, entry] of index.tensors) {
      const t = await readSafetensor(src, entry);
      expect(safetensorToF32(t), name).toEqual(safetensorToF32(whole.tensors.get(name)!));
    }
    expect(reads.length).toBe(2 + index.tensors.size);
    const largestTensor = Math.max(...[...index.tensors.values()].map((e) => e.byteLength));
    expect(Math.max(...reads.map(([s, e]) => e - s))).toBe(largestTensor);
    expect(largestTensor).toBeLessThan(size / 2);
    expect(reads.reduce((n, [s, e]) => n + e - s, 0)).toBe(size); // every byte once
  });

  it('loads a Hugging Face folder through open() alone: no whole read of a weight file', async () => {
    const dir = writeFolder('open-only');
    const reads: [number, number][] = [];
    const read = async (file: string) => {
      if (file.endsWith('.safetensors')) throw new Error(`${file} was read whole`);
      return readFile(join(dir, file)).then((b) => new Uint8Array(b), () => null);
    };
    const loaded = await loadHfFolder(read, 'open-only', async (file) => recording(await fileByteSource(join(dir, file)), reads));
    const half = withRopeLayout(model, 'half');
    for (const name of Object.keys(model.shapes)) expect(loaded.weights.tensors[name], name).toEqual(half.tensors[name]);
    expect(reads.length).toBe(2 + Object.keys(model.shapes).length);
    // loadModel on a local folder goes the same way (directoryFiles has open()).
    expect((await loadModel(dir)).weights.tensors['layers.1.w2']).toEqual(half.tensors['layers.1.w2']);
  });

  it('loads a model.safetensors over 2 GiB (a sparse file), which cannot be read into one buffer', async (ctx) => {
    const dir = writeFolder('big');
    const path = join(dir, 'model.safetensors');
    const small = parseSafetensors(new Uint8Array(await readFile(path)));
    // Every tensor of the model, then a 2.2 GB rotary inv_freq buffer (unused: a warning) whose bytes are a hole.
    const bigCount = 550_000_000;
    const header: Record<string, unknown> = {};
    let offset = 0;
    for (const [name, t] of small.tensors) {
      header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.byteLength] };
      offset += t.byteLength;
    }
    const bigName = 'model.layers.0.self_attn.rotary_emb.inv_freq';
    header[bigName] = { dtype: 'F32', shape: [bigCount], data_offsets: [offset, offset + 4 * bigCount] };
    const json = new TextEncoder().encode(JSON.stringify(header));
    const total = 8 + json.length + offset + 4 * bigCount;
    const handle = await open(path, 'w');
    try {
      const length = new Uint8Array(8);
      new DataView(length.buffer).setBigUint64(0, BigInt(json.length), true);
      await handle.write(length, 0, 8, 0);
      await handle.write(json, 0, json.length, 8);
      let at = 8 + json.length;
      for (const t of small.tensors.values()) {
        await handle.write(t.bytes, 0, t.byteLength, at);
        at += t.byteLength;
      }
      await handle.truncate(total);
    } finally {
      await handle.close();
    }
    const info = statSync(path);
    expect(info.size).toBe(total);
    expect(info.size).toBeGreaterThan(2 ** 31);
    if (info.blocks * 512 > 64 * 2 ** 20) {
      rmSync(path);
      ctx.skip(); // this file system does not keep holes: do not fill the disk
    }
    await expect(readFile(path)).rejects.toThrow(/greater than 2 GiB|ERR_FS_FILE_TOO_LARGE/); // why whole-file reading cannot work

    const warnings: string[] = [];
    const m = await loadModel(dir, { onWarning: (w) => warnings.push(w) });
    const half = withRopeLayout(model, 'half');
    for (const name of Object.keys(model.shapes)) expect(m.weights.tensors[name], name).toEqual(half.tensors[name]);
    expect(warnings).toEqual([`${dir}/model.safetensors: ignoring ${bigName}: rotary inv_freq buffers are recomputed from rope_theta`]);
    rmSync(path);
  }, 30_000);

  it('says reversed data_offsets are reversed (not "outside")', async () => {
    const json = new TextEncoder().encode(JSON.stringify({ t: { dtype: 'F32', shape: [2], data_offsets: [16, 8] } }));
    const bytes = new Uint8Array(8 + json.length + 16);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
    bytes.set(json, 8);
    const message = `bad.safetensors: tensor t: data_offsets [16, 8] are reversed: the end comes before the beginning (byte offset ${8 + json.length + 16})`;
    expect(() => parseSafetensors(bytes, 'bad.safetensors')).toThrow(CheckpointFormatError);
    expect(() => parseSafetensors(bytes, 'bad.safetensors')).toThrow(message);
    await expect(readSafetensorsHeader(byteSource(bytes, 'bad.safetensors'))).rejects.toThrow(message);
  });
});
