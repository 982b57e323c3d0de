// The GPU side of the demo: owns the backend and the model, scores, trains and exports. It runs in a Web
// Worker so the page stays responsive; the same code runs in the page when a worker has no WebGPU.
// The backend is src/backend.ts's choice: WebGPU when a device is granted, else gpu.js (WebGL), which
// loads, scores and generates; training, its memory plan and adapters need WebGPU and are refused.
import { labelBatches, type TokenBatch } from '../src/data/batch.ts';
import { BUILTIN_RECIPE } from '../src/experiment/config.ts';
import { backendLabel, chooseBackend, generateTextOn, loadOnBackend, trainingRefusal, type Backend, type BackendModel } from '../src/backend.ts';
import type { Runtime } from '../src/gpu/index.ts';
import { contextLength } from '../src/model/config.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { LORA_DEFAULTS } from '../src/model/lora.ts';
import { checkMemoryPlan, loraParameterCount, memoryReport } from '../src/model/memory.ts';
import { exportPeftAdapter, importPeftAdapter, PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, peftAdapterFiles, type PeftAdapter } from '../src/model/peft.ts';
import { loadModel, type LoadedModel } from '../src/model/source.ts';
import type { Tokenizer } from '../src/model/tokenizer.ts';
import { MemoryCheckpointStorage } from '../src/train/checkpoint.ts';
import { checkFinetuneConfig, finetune, finetuneConfig, type FinetuneConfig } from '../src/train/finetune.ts';
import { evaluateLoss } from '../src/train/step.ts';
import { xtfOptions } from '../src/xtf/options.ts';
import { scoreExamples } from '../src/xtf/score.ts';
import { onlineXtfSelector } from '../src/xtf/xtf-online.ts';
import type { MemoryPlanReply, ModelInfo, Reply, Request } from './protocol.ts';
import { storedDownloader } from './stored-files.ts';

export type Post = (reply: Reply, transfer?: Transferable[]) => void;

export function createEngine(post: Post, where: 'worker' | 'page'): (req: Request) => Promise<void> {
  let backend: Backend | null = null;
  let model: BackendModel | null = null;
  let tokenizer: Tokenizer | null = null;
  let stop: AbortController | null = null;
  /** The adapter of each finished run, by its label: generation compares them with the base model. */
  const adapters = new Map<string, PeftAdapter>();

  const need = <T>(x: T | null, what: string): T => {
    if (x === null) throw new Error(`${what} first`);
    return x;
  };

  /** The WebGPU backend, or the refusal that says training (and its plan, and adapters) need it. */
  const webGpu = (): Extract<Backend, { kind: 'webgpu' }> => {
    const b = need(backend, 'initialise the GPU');
    if (b.kind !== 'webgpu') throw new Error(trainingRefusal(b.kind)!);
    return b;
  };
  const webGpuModel = (): LlamaModel => {
    webGpu();
    return need(model, 'load a model') as LlamaModel;
  };

  async function handle(req: Request): Promise<void> {
    switch (req.type) {
      case 'init': {
        // A page without a WebGPU adapter runs on gpu.js, whatever its worker might see.
        backend ??= await chooseBackend(req.noWebGpu === null ? {} : { skipWebGpu: req.noWebGpu });
        if (backend.kind !== 'webgpu' && where === 'worker' && req.noWebGpu === null) {
          // The page has WebGPU for itself: let it run the engine there (device.ts).
          const why = backend.why;
          backend = null;
          throw new Error(`no WebGPU in this worker: ${why}`);
        }
        const training = trainingRefusal(backend.kind);
        if (backend.kind === 'webgpu') {
          const rt = backend.rt;
          const limits = rt.device.limits;
          // The adapter report's limits and features: what the runtime asked the device for.
          post({ type: 'ready', adapter: rt.report.summary, features: [...rt.report.features].map(String).sort(), maxBufferBytes: limits.maxBufferSize, limits: { ...rt.report.limits }, where, backend: 'webgpu', why: backend.why, training });
        } else {
          post({ type: 'ready', adapter: backendLabel(backend.kind), features: [], maxBufferBytes: 0, limits: {}, where, backend: backend.kind, why: backend.why, training });
        }
        return;
      }
      case 'load': {
        const chosen = need(backend, 'initialise the GPU');
        const onProgress = (p: { file: string; loaded: number; total?: number }) => post({ type: 'load-progress', file: p.file, loaded: p.loaded, total: p.total });
        const loaded: LoadedModel = req.source.kind === 'url'
          ? await loadModel(req.source.url, { onProgress, tokenizer: req.source.tokenizer, download: storedDownloader }) // kept in Cache Storage
          : await loadFiles(req.source.files, onProgress);
        model?.release();
        model = null;
        model = await loadOnBackend(chosen, loaded.weights, { baseDtype: req.baseDtype, sourceFormat: loaded.format });
        tokenizer = loaded.tokenizer;
        adapters.clear(); // they were trained for the previous model
        paused = null;
        post({ type: 'loaded', info: modelInfo(loaded, model) });
        return;
      }
      case 'score': {
        const m = need(model, 'load a model');
        const { scored, summary } = await scoreExamples(m, need(tokenizer, 'load a model'), req.records, {
          xtf: xtfOptions({ batchSize: req.batchSize, rules: req.rules, domainWords: req.domainWords }),
          task: req.task,
          onProgress: (p) => post({ type: 'score-progress', done: p.examplesDone, total: p.examples, tokensPerSecond: p.tokensPerSecond, etaSeconds: p.etaSeconds }),
        });
        post({ type: 'scored', scored, summary });
        return;
      }
      case 'train': {
        const m = webGpuModel();
        const tok = need(tokenizer, 'load a model');
        const config = demoRecipe(req.settings);
        // Held-out loss on every label token, so runs with and without the mask compare on the same tokens;
        // the set is reported only (the recipe's validation split of the training examples picks checkpoints).
        const { batches: heldOut } = labelBatches(tok, req.heldOut, { maxLength: contextLength(m.config), batchSize: config.batchSize });
        m.removeLora();
        const heldOutBefore = heldOut.length ? await evaluateLoss(m, heldOut) : null; // the base model
        paused = { req, config, heldOut, heldOutBefore, storage: new MemoryCheckpointStorage(), seconds: 0, steps: 0, trainedTokens: 0, online: { seen: 0, masked: 0 } };
        await runTraining(m, tok.eosId, false);
        return;
      }
      case 'resume':
        if (paused && model instanceof LlamaModel && tokenizer) await runTraining(model, tokenizer.eosId, true);
        return;
      case 'finish':
        if (paused && model instanceof LlamaModel) await finishRun(model, 'aborted');
        return;
      case 'generate': {
        const m = need(model, 'load a model');
        const tok = need(tokenizer, 'load a model');
        const outputs: { label: string; text: string; tokens: number }[] = [];
        const run = async (label: string) => {
          const g = await generateTextOn(m, tok, req.prompt, { maxTokens: req.maxTokens, temperature: 0 });
          outputs.push({ label, text: tok.decode(g.generated), tokens: g.generated.length });
        };
        if (m instanceof LlamaModel) m.removeLora();
        await run('base model');
        // Adapters exist only on WebGPU: gpu.js neither trains nor adopts them.
        if (m instanceof LlamaModel) for (const [label, a] of adapters) {
          importPeftAdapter(m, { config: a.config, safetensors: a.safetensors });
          await run(label);
        }
        post({ type: 'generated', outputs });
        return;
      }
      case 'adopt': {
        const m = webGpuModel();
        const adapter = { config: JSON.parse(new TextDecoder().decode(req.files[PEFT_CONFIG_FILE])) as PeftAdapter['config'], safetensors: req.files[PEFT_WEIGHTS_FILE] };
        importPeftAdapter(m, adapter); // throws here, not at generation, when it does not fit this model
        m.removeLora();
        adapters.set(req.label, adapter);
        post({ type: 'adopted', label: req.label });
        return;
      }
      case 'plan':
        post({ type: 'planned', plan: planRun(webGpu().rt, webGpuModel(), req) });
        return;
      case 'stop':
        stop?.abort();
        return;
    }
  }

  /** The run in progress or paused: a pause is an abort that saves a checkpoint, a resume continues from it. */
  let paused: { req: Extract<Request, { type: 'train' }>; config: FinetuneConfig; heldOut: TokenBatch[]; heldOutBefore: number | null; storage: MemoryCheckpointStorage; seconds: number; steps: number; trainedTokens: number; online: { seen: number; masked: number } } | null = null;

  async function runTraining(m: LlamaModel, padId: number, resume: boolean): Promise<void> {
    const run = paused!;
    stop = new AbortController();
    const started = performance.now();
    const result = await finetune({
      model: m,
      config: run.config,
      examples: run.req.examples,
      padId,
      storage: run.storage,
      resume,
      onProgress: (p) => post({ type: 'train-progress', point: { step: p.step, totalSteps: p.totalSteps, loss: p.loss, tokensPerSecond: p.tokensPerSecond, etaMs: p.etaMs } }),
      // The trainer counts the label tokens in the loss across resumes (the checkpoint carries the count).
      onMetrics: (r) => void (r.type === 'train' && (run.trainedTokens = r.trainedTokens)),
      // Online XTF: KN judged at every step by the model being trained (counted for the run's masked share).
      selectTokens: run.req.online
        ? onlineXtfSelector({ ...run.req.online, onToken: (_id, _at, kept) => { run.online.seen++; if (!kept) run.online.masked++; } })
        : undefined,
      signal: stop.signal,
    });
    stop = null;
    run.seconds += (performance.now() - started) / 1000;
    run.steps = result.steps;
    if (result.reason === 'aborted') post({ type: 'paused', step: result.steps });
    else await finishRun(m, result.reason);
  }

  async function finishRun(m: LlamaModel, reason: string): Promise<void> {
    const run = paused!;
    paused = null;
    const heldOutAfter = run.heldOut.length ? await evaluateLoss(m, run.heldOut) : null;
    const adapter = await exportPeftAdapter(m);
    adapters.set(run.req.label, adapter);
    const files = peftAdapterFiles(adapter);
    // Copied, not transferred: `adapters` keeps the bytes for generation.
    post({ type: 'trained', label: run.req.label, steps: run.steps, seconds: run.seconds, files, reason, heldOutBefore: run.heldOutBefore, heldOutAfter, trainedTokens: run.trainedTokens, ...(run.req.online ? { onlineMasked: run.online.seen ? run.online.masked / run.online.seen : 0 } : {}) });
  }

  return async (req) => {
    try {
      await handle(req);
    } catch (e) {
      const err = e as Error;
      post({ type: 'error', during: req.type, name: err.name ?? 'Error', message: err.message ?? String(e) });
    }
  };
}

/** Picked files: a GGUF alone, a llama2.c .bin (+ its tok*.bin), or a Hugging Face folder's files. */
function loadFiles(files: File[], onProgress: (p: { file: string; loaded: number; total?: number }) => void): Promise<LoadedModel> {
  if (files.length === 1) return loadModel(files[0], { onProgress });
  const checkpoint = files.find((f) => /\.bin$/i.test(f.name) && !/^(tok[^/]*|tokenizer)\.bin$/i.test(f.name));
  const tok = files.find((f) => /^(tok[^/]*|tokenizer)\.bin$/i.test(f.name));
  if (checkpoint && tok) return loadModel(checkpoint, { onProgress, tokenizer: tok });
  return loadModel(files, { onProgress });
}

function modelInfo(loaded: LoadedModel, model: BackendModel): ModelInfo {
  const c = loaded.config;
  const parameters = countParameters(model);
  // gpu.js keeps every weight in f32 textures.
  const dtypes = model instanceof LlamaModel ? model.baseDtypes() : 'f32';
  const plan = memoryReport(c, { batch: 8, seqLen: Math.min(256, contextLength(c)), mode: 'lora' }, LORA_DEFAULTS, dtypes);
  return {
    source: loaded.source,
    format: loaded.format,
    architecture: c.architecture,
    dim: c.dim,
    hiddenDim: c.hiddenDim,
    nLayers: c.nLayers,
    nHeads: c.nHeads,
    nKvHeads: c.nKvHeads,
    vocabSize: c.vocabSize,
    maxSeqLen: contextLength(c), // the longest sequence the model may run (a sliding window bounds it)
    parameters,
    weightsBytes: plan.weightsBytes,
    baseStorage: typeof dtypes === 'string' ? dtypes : storageSummary(dtypes),
    trainPeakBytes: plan.peakBytes,
    loraParameters: loraParameterCount(c, LORA_DEFAULTS),
  };
}

/** 'f16' when every 2-D base weight is f16, else each type with its count: 'q4 (14), f32 (1)'. */
function storageSummary(dtypes: Record<string, string>): string {
  const counts = new Map<string, number>();
  for (const d of Object.values(dtypes)) counts.set(d, (counts.get(d) ?? 0) + 1);
  return counts.size === 1 ? [...counts.keys()][0] : [...counts].map(([d, n]) => `${d} (${n})`).join(', ');
}

/** The memory plan of a LoRA run at these settings, and whether this device can hold it. */
function planRun(rt: Runtime, model: LlamaModel, req: Extract<Request, { type: 'plan' }>): MemoryPlanReply {
  const plan = { batch: req.batchSize, seqLen: Math.min(req.seqLen, contextLength(model.config)), mode: 'lora' as const };
  const report = memoryReport(model.config, plan, { ...BUILTIN_RECIPE.lora, rank: req.rank }, model.baseDtypes());
  let problem: string | null = null;
  try {
    checkMemoryPlan(rt, report, plan);
  } catch (e) {
    problem = (e as Error).message;
  }
  return {
    batchSize: plan.batch,
    seqLen: plan.seqLen,
    rank: req.rank,
    peakBytes: report.peakBytes,
    weightsBytes: report.weightsBytes,
    activationBytes: report.activationBytes + report.transientBytes,
    trainableBytes: report.adapterBytes + report.gradientBytes + report.optimizerBytes,
    largestTensor: report.largestTensor,
    largestTensorBytes: report.largestTensorBytes,
    problem,
  };
}

function countParameters(model: BackendModel): number {
  return Math.round(memoryReport(model.config, { batch: 1, seqLen: 1, mode: 'inference' }).weightsBytes / 4);
}

/** The page's settings over the built-in recipe (the demo fine-tunes small models for a fixed number of
 *  steps: no epoch limit, warm-up shortened to fit). */
function demoRecipe(s: Extract<Request, { type: 'train' }>['settings']): FinetuneConfig {
  const c = finetuneConfig({ steps: s.steps, batchSize: s.batchSize, lr: s.lr, seed: s.seed, lora: { rank: s.rank }, warmupSteps: Math.min(BUILTIN_RECIPE.warmupSteps, s.steps - 1) }, BUILTIN_RECIPE);
  return checkFinetuneConfig({ ...c, epochs: undefined });
}
