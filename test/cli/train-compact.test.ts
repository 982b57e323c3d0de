// `xtf train --base-dtype q4` end to end: XTF scoring (the paper's rules read the token embedding) and LoRA
// training on a 4-bit base, a PEFT adapter written that loads back, into a q4 base (`xtf generate`) and an f32
// one (the library), with trained (non-zero) lora_B; and the default --base-dtype (auto) of a llama2.c file is f32.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { baseDtypeOptions } from '../../src/cli/model-args.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { importPeftAdapter, PEFT_WEIGHTS_FILE } from '../../src/model/peft.ts';
import { loadPeftAdapter } from '../../src/model/peft-fs.ts';
import { parseSafetensors, safetensorToF32 } from '../../src/model/safetensors.ts';
import { xtf } from '../helpers/cli.ts';
import { gpu } from '../helpers/gpu.ts';
import { loadModel } from '../model/stories260k.ts';

const MODEL = '../shared/models/stories260K/stories260K.bin';

describe('xtf train on a compact base', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xtf-train-q4-'));
  const data = join(dir, 'gsm8k-12.jsonl');
  writeFileSync(data, readFileSync('../shared/data/gsm8k/train.jsonl', 'utf8').split('\n').slice(0, 12).join('\n'));

  it('--base-dtype q4 scores, trains LoRA and exports a PEFT adapter that loads back into a q4 and an f32 base', async () => {
    const out = join(dir, 'run');
    const r = await xtf('train', '--model', MODEL, '--data', data, '--filter', 'xtf', '--rules', 'paper', '--base-dtype', 'q4', '--out', out,
      '--batch-size', '4', '--lr', '3e-3', '--lora-rank', '4', '--val-fraction', '0.25', '--steps', '2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/xtf: masked \d+\.\d% of \d+ label tokens/);
    expect(r.stdout).toMatch(/^2 steps \(steps\), best validation loss/m);

    const adapterDir = join(out, 'adapter');
    const adapter = await loadPeftAdapter(adapterDir);
    const file = parseSafetensors(adapter.safetensors, PEFT_WEIGHTS_FILE);
    const b = file.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight');
    expect(b).toBeDefined();
    expect(safetensorToF32(b!, PEFT_WEIGHTS_FILE).some((v) => v !== 0)).toBe(true); // trained: B starts at zero

    const g = await xtf('generate', '--model', MODEL, '--base-dtype', 'q4', '--adapter', adapterDir, '--prompt', 'Natalia sold', '--max-tokens', '8', '--temperature', '0', '--json');
    expect(g.code, g.stderr).toBe(0);
    expect(JSON.parse(g.stdout).generated).toBeGreaterThan(0);

    const rt = await gpu();
    const f32 = LlamaModel.fromWeights(rt, loadModel());
    importPeftAdapter(f32, adapter);
    expect(f32.lora?.rank).toBe(4);
    f32.release();
  });

  it('the default --base-dtype is auto: a llama2.c checkpoint stays f32, --full trains in f32, a compact --full is refused', () => {
    expect(baseDtypeOptions({}, 'llama2c')).toEqual({ baseDtype: 'auto', sourceFormat: 'llama2c' });
    expect(baseDtypeOptions({ full: true }, 'hf')).toEqual({ baseDtype: 'f32' });
    expect(() => baseDtypeOptions({ full: true, 'base-dtype': 'q4' }, 'hf')).toThrow(/--full trains every base weight in f32/);
  });
});
