import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { loadModel } from '../../src/model/source-fs.ts';
import { HfTokenizer, llama2cToHfTokenizer } from '../../src/model/tokenizer-hf.ts';
import { rng } from '../helpers/random.ts';
import { parseSafetensors } from '../../src/model/safetensors.ts';
import { nextTokenLogProbs } from '../reference/llama.ts';
import { STORIES260K_DIR, loadModel as loadStories, loadTokenizer, reference } from './stories260k.ts';

const temp = mkdtempSync(join(tmpdir(), 'xtf-convert-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));
const checkpoint = new URL('stories260K.bin', STORIES260K_DIR).pathname;

async function xtf(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  try {
    const code = await main(args);
    return { code, out: log.mock.calls.flat().join('\n'), err: error.mock.calls.flat().join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe('xtf convert: llama2.c -> Hugging Face folder', () => {
  it('writes a folder the HF loader reads back with the same token ids and log-probs as llama2.c', async () => {
    const out = join(temp, 'stories260K-hf');
    const r = await xtf('convert', checkpoint, '--out', out);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\(llama2c, llama dim 64, 5 layers, vocab 512\) -> .*stories260K-hf/);
    expect(readdirSync(out).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    expect(readdirSync(temp).filter((f) => f.includes('.tmp-'))).toEqual([]); // nothing left half-written
    const hfConfig = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(hfConfig).toMatchObject({ architectures: ['LlamaForCausalLM'], hidden_size: 64, num_key_value_heads: 4, tie_word_embeddings: true, rms_norm_eps: 1e-5 });
    const tokenizerJson = JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8'));
    expect(tokenizerJson.model).toMatchObject({ type: 'BPE', byte_fallback: true, unk_token: '<unk>' });
    expect(tokenizerJson.normalizer.normalizers.map((n: { type: string }) => n.type)).toEqual(['Prepend', 'Replace']);
    expect(tokenizerJson.model.merges[0]).toBe('▁ t'); // the highest-scoring piece " t"

    const loaded = await loadModel(out);
    expect(loaded.format).toBe('hf');
    expect(loaded.config).toEqual({ ...loadStories().config, ropeLayout: 'half' });
    expect(loaded.tokenizer).toBeInstanceOf(HfTokenizer); // encoding goes through @huggingface/tokenizers
    let worst = 0;
    for (const c of reference.cases) {
      expect(loaded.tokenizer.encode(c.text)).toEqual(c.tokens);
      expect(loaded.tokenizer.decode(c.tokens)).toBe(c.text);
      const logProbs = nextTokenLogProbs(loaded.weights, c.tokens);
      logProbs.forEach((lp, i) => (worst = Math.max(worst, Math.abs(lp - c.next_token_logprobs[i]))));
    }
    console.log(`converted folder: max |log-prob - llama2.c| = ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-4);
  });

  it('derives merges that make HF BPE encode exactly like llama2.c on random text', () => {
    const llama2c = loadTokenizer();
    const { tokenizerJson, tokenizerConfig } = llama2cToHfTokenizer(llama2c);
    const hf = new HfTokenizer(tokenizerJson, tokenizerConfig);
    const alphabet = [...'abcdefghijklmnopqrstuvwxyz     ,.!?\'"éñ😀\nTSHL0123\u00a0'];
    const random = rng(42);
    for (let n = 0; n < 400; n++) {
      const text = Array.from({ length: Math.floor(random() * 60) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
      expect(hf.encode(text), JSON.stringify(text)).toEqual(llama2c.encode(text));
      expect(hf.decode(hf.encode(text))).toBe(text);
    }
  });

  it('exports f16 weights, refuses to overwrite without --force, and reports bad flags', async () => {
    const out = join(temp, 'stories-f16');
    expect((await xtf('convert', checkpoint, '-o', out, '--dtype', 'f16')).code).toBe(0);
    const weights = parseSafetensors(new Uint8Array(readFileSync(join(out, 'model.safetensors'))));
    expect(weights.tensors.get('model.layers.0.self_attn.q_proj.weight')!.dtype).toBe('F16');
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).torch_dtype).toBe('float16');
    const reloaded = await loadModel(out);
    const c = reference.cases[0];
    const logProbs = nextTokenLogProbs(reloaded.weights, c.tokens.slice(0, 12));
    logProbs.forEach((lp, i) => expect(Math.abs(lp - c.next_token_logprobs[i])).toBeLessThan(2e-2));

    const again = await xtf('convert', checkpoint, '-o', out);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/ModelSourceError: .*stories-f16: already exists; .*--force/);
    expect((await xtf('convert', checkpoint, '-o', out, '--force')).code).toBe(0);
    expect(parseSafetensors(new Uint8Array(readFileSync(join(out, 'model.safetensors')))).tensors.get('model.norm.weight')!.dtype).toBe('F32');
    expect(readdirSync(temp).filter((f) => f.includes('.tmp-') || f.includes('.old-'))).toEqual([]);

    expect((await xtf('convert', checkpoint, '-o', out, '--dtype', 'q4')).code).toBe(2);
    expect((await xtf('convert', checkpoint)).code).toBe(2);
    const missing = await xtf('convert', join(temp, 'nope.bin'), '-o', join(temp, 'x'));
    expect(missing.err).toMatch(/nope\.bin: does not exist/);
  });
});
