import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel as loadInBrowser, type LoadProgress, urlFiles } from '../../src/model/source.ts';
import { loadModel, writeFolderAtomic } from '../../src/model/source-fs.ts';
import { hfFolderFiles } from '../../src/model/hf-export.ts';
import { ModelSourceError } from '../../src/model/errors.ts';
import { STORIES260K_DIR, loadModel as loadStories, loadTokenizer, reference } from './stories260k.ts';
import { writeGguf, str, u32, f32 } from './gguf-writer.ts';

const root = mkdtempSync(join(tmpdir(), 'xtf-source-'));
const shared = (f: string) => new URL(f, STORIES260K_DIR).pathname;
const text = reference.cases[0].text, ids = reference.cases[0].tokens;

/** A tiny GGUF (no tokenizer needed beyond SentencePiece pieces) of the stories model. */
function storiesGguf(): Uint8Array<ArrayBuffer> {
  const m = loadStories(), c = m.config, tok = loadTokenizer();
  const kv = {
    'general.architecture': str('llama'), 'llama.context_length': u32(c.maxSeqLen), 'llama.embedding_length': u32(c.dim),
    'llama.block_count': u32(c.nLayers), 'llama.feed_forward_length': u32(c.hiddenDim), 'llama.attention.head_count': u32(c.nHeads),
    'llama.attention.head_count_kv': u32(c.nKvHeads), 'llama.attention.layer_norm_rms_epsilon': f32(c.normEps),
    'tokenizer.ggml.model': str('llama'),
    'tokenizer.ggml.tokens': { type: 'strings' as const, value: Array.from({ length: 512 }, (_, i) => (i === 1 ? '<s>' : i === 2 ? '</s>' : tok.piece(i).replaceAll(' ', '\u2581'))) },
    'tokenizer.ggml.scores': { type: 'f32s' as const, value: Array.from(tok.scores) },
    'tokenizer.ggml.token_type': { type: 'i32s' as const, value: Array.from({ length: 512 }, (_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1)) },
  };
  const names: Record<string, string> = { tokEmbedding: 'token_embd.weight', finalNorm: 'output_norm.weight' };
  const layer: Record<string, string> = { attnNorm: 'attn_norm', wq: 'attn_q', wk: 'attn_k', wv: 'attn_v', wo: 'attn_output', ffnNorm: 'ffn_norm', w1: 'ffn_gate', w2: 'ffn_down', w3: 'ffn_up' };
  const tensors = Object.keys(m.shapes).map((name) => {
    const l = /^layers\.(\d+)\.(\w+)$/.exec(name);
    return { name: l ? `blk.${l[1]}.${layer[l[2]]}.weight` : names[name], shape: [...m.shapes[name]], dtype: 'F32' as const, data: m.tensors[name] };
  });
  return writeGguf(kv, tensors);
}

let server: Server;
let base = '';
const requests: string[] = [];

beforeAll(async () => {
  // Files served by the local server, and used as local paths.
  mkdirSync(join(root, 'www', 'llama2c'), { recursive: true });
  copyFileSync(shared('stories260K.bin'), join(root, 'www', 'llama2c', 'stories260K.bin'));
  copyFileSync(shared('tok512.bin'), join(root, 'www', 'llama2c', 'tok512.bin'));
  writeFileSync(join(root, 'www', 'stories.gguf'), storiesGguf());
  const stories = loadStories();
  await writeFolderAtomic(join(root, 'www', 'org', 'stories-hf'), hfFolderFiles(stories, loadTokenizer()));

  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
    requests.push(path);
    try {
      const body = readFileSync(join(root, 'www', path));
      res.writeHead(200, { 'Content-Length': body.length, 'Content-Type': 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  base = `http://127.0.0.1:${address.port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(root, { recursive: true, force: true });
});

describe('loadModel from local paths', () => {
  it('finds the llama2.c tokenizer beside the checkpoint, from the file or its folder', async () => {
    for (const path of [join(root, 'www', 'llama2c', 'stories260K.bin'), join(root, 'www', 'llama2c')]) {
      const m = await loadModel(path);
      expect(m.format).toBe('llama2c');
      expect(m.source).toMatch(/llama2c\/stories260K\.bin$/);
      expect(m.config.ropeLayout).toBe('interleaved');
      expect(m.tokenizer.encode(text)).toEqual(ids);
    }
  });

  it('takes an explicit tokenizer, and says what to do when there is none', async () => {
    const alone = join(root, 'alone');
    mkdirSync(alone);
    copyFileSync(shared('stories260K.bin'), join(alone, 'model.bin'));
    const err = await loadModel(join(alone, 'model.bin')).catch((e) => e);
    expect(err).toBeInstanceOf(ModelSourceError);
    expect(err.message).toMatch(/alone\/model\.bin: no llama2\.c tokenizer with 512 tokens beside the checkpoint \(looked for tok\*\.bin, tokenizer\.bin\); pass the tokenizer explicitly \(--tokenizer\)$/);
    const m = await loadModel(join(alone, 'model.bin'), { tokenizer: shared('tok512.bin') });
    expect(m.tokenizer.encode(text)).toEqual(ids);
    // A tokenizer of the wrong size beside it is reported, not used.
    writeFileSync(join(alone, 'tok32.bin'), readFileSync(shared('tok512.bin')).subarray(0, 600));
    await expect(loadModel(join(alone, 'model.bin'))).rejects.toThrow(/looked for tok32\.bin\): .*tok32\.bin/);
  });

  it('reads GGUF and Hugging Face folders by path, and explains a folder with nothing in it', async () => {
    const gguf = await loadModel(join(root, 'www', 'stories.gguf'));
    expect([gguf.format, gguf.config.ropeLayout]).toEqual(['gguf', 'interleaved']);
    expect(gguf.tokenizer.encode(text)).toEqual(ids);
    for (const path of ['', 'config.json', 'model.safetensors']) {
      const hf = await loadModel(join(root, 'www', 'org', 'stories-hf', path));
      expect([hf.format, hf.config.ropeLayout]).toEqual(['hf', 'half']);
      expect(hf.tokenizer.encode(text)).toEqual(ids);
    }
    mkdirSync(join(root, 'empty'));
    writeFileSync(join(root, 'empty', 'notes.txt'), 'hi');
    await expect(loadModel(join(root, 'empty'))).rejects.toThrow(/empty: holds no model: expected config\.json .*found notes\.txt/);
    await expect(loadModel(join(root, 'empty', 'notes.txt'))).rejects.toThrow(/notes\.txt: is not a model file this loader knows/);
  });
});

describe('loadModel from URLs (local server, disk cache)', () => {
  it('downloads a HF folder once; the second load is served from the cache', async () => {
    const cacheDir = join(root, 'cache');
    const progress: LoadProgress[] = [];
    requests.length = 0;
    const first = await loadModel(`${base}/org/stories-hf/`, { cacheDir, onProgress: (p) => progress.push(p) });
    expect(first.format).toBe('hf');
    expect(first.tokenizer.encode(text)).toEqual(ids);
    expect(requests).toEqual(expect.arrayContaining(['/org/stories-hf/config.json', '/org/stories-hf/model.safetensors', '/org/stories-hf/tokenizer.json', '/org/stories-hf/tokenizer_config.json']));
    const weightsDone = progress.filter((p) => p.file.endsWith('model.safetensors')).at(-1)!;
    expect(weightsDone.loaded).toBe(weightsDone.total);
    expect(weightsDone.loaded).toBeGreaterThan(1_000_000);
    expect(readdirSync(cacheDir).some((f) => f.includes('.tmp-'))).toBe(false);

    requests.length = 0;
    progress.length = 0;
    const second = await loadModel(`${base}/org/stories-hf/config.json`, { cacheDir, onProgress: (p) => progress.push(p) });
    expect(requests).toEqual([]);
    expect(progress.every((p) => p.cached)).toBe(true);
    expect(second.weights.tensors.tokEmbedding).toEqual(first.weights.tensors.tokEmbedding);
  });

  it('loads a GGUF URL and a llama2.c URL (tokenizer guessed as tok<vocab>.bin beside it)', async () => {
    const cacheDir = join(root, 'cache2');
    requests.length = 0;
    const gguf = await loadModel(`${base}/stories.gguf`, { cacheDir });
    expect(gguf.format).toBe('gguf');
    expect(requests).toEqual(['/stories.gguf']);
    const llama2c = await loadModel(`${base}/llama2c/stories260K.bin?download=true`, { cacheDir });
    expect(llama2c.tokenizer.encode(text)).toEqual(ids);
    expect(requests.slice(1)).toEqual(['/llama2c/stories260K.bin', '/llama2c/tok512.bin']);
    await expect(loadModel(`${base}/nothing/here.gguf`, { cacheDir })).rejects.toThrow(/nothing\/here\.gguf: does not exist/);
    await expect(loadModel(`${base}/nothing/`, { cacheDir: false })).rejects.toThrow(/nothing\/config\.json: missing/);
  });

  it('maps Hugging Face URLs onto their resolve/main folder', () => {
    expect(urlFiles('https://huggingface.co/org/name').files.label).toBe('https://huggingface.co/org/name/resolve/main');
    const gguf = urlFiles('https://huggingface.co/org/name/resolve/main/model-q8_0.gguf?download=true');
    expect([gguf.files.label, gguf.entry]).toEqual(['https://huggingface.co/org/name/resolve/main', 'model-q8_0.gguf']);
    expect(urlFiles('https://huggingface.co/org/name/resolve/main/config.json').entry).toBeUndefined();
  });
});

describe('loadModel in a browser (Files, no file system)', () => {
  it('reads a dropped GGUF File and a dropped llama2.c checkpoint with its tokenizer', async () => {
    const gguf = new File([storiesGguf()], 'stories.gguf');
    expect((await loadInBrowser(gguf)).tokenizer.encode(text)).toEqual(ids);
    const files = [new File([readFileSync(shared('stories260K.bin'))], 'stories260K.bin'), new File([readFileSync(shared('tok512.bin'))], 'tok512.bin')];
    const m = await loadInBrowser(files);
    expect([m.format, m.source]).toEqual(['llama2c', 'selected files/stories260K.bin']);
    expect(m.tokenizer.encode(text)).toEqual(ids);
    await expect(loadInBrowser('/some/local/path')).rejects.toThrow(/not an http\(s\) URL; local paths load through source-fs\.ts/);
  });
});
