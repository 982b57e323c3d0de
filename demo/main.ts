/// <reference types="vite/client" />
// The demo page: picks a model and data, drives the engine (a Web Worker with WebGPU), and shows XTF's
// selection, which it re-computes on the main thread when thresholds move (selection is pure CPU code).
// Scores, finished runs, the last comparison and every run's adapter (up to 8) are kept in IndexedDB (store.ts) and
// shown again after a reload, before any model loads and even without WebGPU.
import { zipSync } from 'fflate';
import { recordToExample } from '../src/data/examples.ts';
import { parseRecordsText, readRecordsBlob, type RawRecord } from '../src/data/files.ts';
import type { TokenizedRecord } from '../src/data/tokenize.ts';
import { escapeHtml } from '../src/report/html.ts';
import { summaryFromRecords } from '../src/xtf/explain.ts';
import { exportLine } from '../src/xtf/export.ts';
import { XTF_DEFAULTS, type XtfOptions } from '../src/xtf/options.ts';
import { reselect } from '../src/xtf/select.ts';
import { scoredToTraining } from '../src/xtf/to-training.ts';
import type { DatasetSummary, Example, ScoredExample } from '../src/xtf/types.ts';
import { filesFromDrop } from './dropped-files.ts';
import { formatBytes as bytes } from '../src/gpu/errors.ts';
import { clip, count, duration, fmt, when } from './format.ts';
import type { createEngine } from './engine.ts';
import { PAGE_ENGINE, type MemoryPlanReply, type ModelInfo, type ModelSource, type Reply, type Request, type TrainSettings } from './protocol.ts';
import { lossChart, runsTable, type ChartRun } from './runs.ts';
import { fractionsHtml, heatmapHtml, tokenTipHtml } from './heatmap.ts';
import { describeSource, modelFacts, modelKey, type DeviceFacts } from './model-card.ts';
import engineUrl from './worker.ts?worker&url';
import { clearSaved, loadSaved, saveAdapters, saveComparison, saveRuns, saveScores, withAdapter, type SavedAdapter, type SavedComparison, type SavedRun, type SavedScores, type SavedState } from './store.ts';

const DEV = import.meta.env.DEV;
// A built site fetches the public copies; development serves ../shared under /shared/ (vite.config.ts) and
// falls back to the public copies when ../shared lacks a file (a 404).
const PUBLIC = {
  model: 'https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/stories260K.bin',
  data: 'https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data/train.jsonl',
  heldOut: 'https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data/test.jsonl',
};
const LOCAL = {
  model: new URL('/shared/models/stories260K/stories260K.bin', location.href).href,
  data: new URL('/shared/data/gsm8k/train.jsonl', location.href).href,
  heldOut: new URL('/shared/data/gsm8k/test.jsonl', location.href).href,
};
const MODEL_TOKENIZER = 'tok512.bin';
/** Where a default comes from, and a note the page shows about it. */
interface Resolved { url: string; note: string }
const resolved = new Map<keyof typeof PUBLIC, Promise<Resolved>>();
function defaultSource(key: keyof typeof PUBLIC): Promise<Resolved> {
  let r = resolved.get(key);
  if (!r) {
    r = (async (): Promise<Resolved> => {
      if (!DEV) return { url: PUBLIC[key], note: `public address (${new URL(PUBLIC[key]).host})` };
      const head = await fetch(LOCAL[key], { method: 'HEAD' }).catch(() => null);
      if (head?.ok) return { url: LOCAL[key], note: 'local ../shared (development server)' };
      return { url: PUBLIC[key], note: `public address (${new URL(PUBLIC[key]).host}): ../shared has no ${new URL(LOCAL[key]).pathname.replace(/^\/shared\//, '')} (${head ? `HTTP ${head.status}` : 'unreachable'})` };
    })();
    resolved.set(key, r);
  }
  return r;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
for (const id of ['examples', 'steps', 'batch', 'lr', 'rank']) if (params.has(id)) $<HTMLInputElement>(id).value = params.get(id)!;

type ModelChoice = 'default' | 'url' | 'file';
/** Which model scored the scores on screen, so training only uses them with a model that shares its tokens. */
interface ScoresOrigin { model: string; modelKey: string; data: string; savedAt: string }
const state = {
  model: null as ModelInfo | null,
  device: null as DeviceFacts | null,
  /** Model files picked or dropped, loaded when "from disk" is chosen. */
  picked: [] as File[],
  dataName: '',
  examples: [] as Example[],
  heldOut: [] as Example[],
  scored: [] as ScoredExample[],
  view: [] as ScoredExample[],
  summary: null as DatasetSummary | null,
  scoresFrom: null as ScoresOrigin | null,
  options: structuredClone(XTF_DEFAULTS) as XtfOptions,
  trCuts: [] as number[],
  trRange: [0, 1] as [number, number],
  shown: 10,
  /** Finished runs (saved ones first), and the run training now. */
  runs: [] as SavedRun[],
  live: null as ChartRun | null,
  saved: { runs: [], adapters: [] } as SavedState,
  busy: false,
};
// Read by the end-to-end test.
const probe = {
  paused: false, generations: 0, ready: false, where: '', modelLoaded: false, loads: 0, model: '', examples: 0, scored: false,
  maskedTokens: 0, labelTokens: 0, sources: {} as Record<string, string>, losses: [] as number[], trained: false, errors: [] as string[],
  restored: { scores: 0, runs: 0, adapters: 0, comparison: false }, plan: null as MemoryPlanReply | null, cleared: false,
};
(window as unknown as { __demo: typeof probe }).__demo = probe;

// ---------------------------------------------------------------- engine

let send: (req: Request) => void = () => undefined;
const waiters: ((r: Reply) => boolean)[] = [];
function onReply(r: Reply): void {
  for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i](r)) waiters.splice(i, 1);
  dispatch(r);
}
function until<T extends Reply['type']>(type: T, during: Request['type']): Promise<Extract<Reply, { type: T }>> {
  return new Promise((resolve, reject) => waiters.push((r) => {
    if (r.type === type) return resolve(r as Extract<Reply, { type: T }>), true;
    if (r.type === 'error' && r.during === during) return reject(Object.assign(new Error(r.message), { name: r.name })), true;
    return false;
  }));
}

/** Sends a request and waits for its answer (or its error). */
function call<T extends Reply['type']>(req: Request, type: T): Promise<Extract<Reply, { type: T }>> {
  const answer = until(type, req.type);
  send(req);
  return answer;
}

async function startEngine(): Promise<void> {
  const gpuPill = $('gpu');
  if (!('gpu' in navigator) || !navigator.gpu) return noWebGpu('This browser does not expose WebGPU (navigator.gpu is missing).');
  try {
    const worker = new Worker(engineUrl, { type: 'module' });
    worker.onmessage = (e: MessageEvent<Reply>) => onReply(e.data);
    worker.onerror = (e) => onReply({ type: 'error', during: 'init', name: 'WorkerError', message: e.message });
    send = (req) => worker.postMessage(req);
    await call({ type: 'init' }, 'ready');
  } catch (workerError) {
    // A worker without WebGPU (some browsers expose it to pages only): run the engine in the page.
    console.warn('engine: no WebGPU in a worker, running in the page:', (workerError as Error).message);
    const handle = (await pageEngine())((r) => onReply(r), 'page');
    send = (req) => void handle(req);
    try {
      await call({ type: 'init' }, 'ready');
    } catch (e) {
      return noWebGpu(`WebGPU is present but no adapter was granted: ${(e as Error).message}`);
    }
  }
  gpuPill.className = 'pill ok';
}

/** The engine for the page itself: the worker's own bundle, imported (not a second copy of the engine). */
async function pageEngine(): Promise<typeof createEngine> {
  await import(/* @vite-ignore */ engineUrl);
  return (globalThis as Record<symbol, unknown>)[PAGE_ENGINE] as typeof createEngine;
}

function noWebGpu(why: string): void {
  $('gpu').className = 'pill bad';
  $('gpu').textContent = 'no WebGPU';
  const b = $('nogpu');
  b.hidden = false;
  b.innerHTML = `<b>WebGPU is not available here.</b> ${escapeHtml(why)} Training and scoring need it. It works in
    Chrome and Edge 113+ on Windows, macOS and ChromeOS; Chrome 121+ on Android; Safari 26+ (macOS, iOS);
    Firefox 141+ on Windows. On Linux, Chrome needs <code>chrome://flags/#enable-unsafe-webgpu</code> (and
    <code>#enable-vulkan</code>); Firefox Nightly needs <code>dom.webgpu.enabled</code> in <code>about:config</code>.
    ${savedSomething() ? 'What this browser saved is below: the scores (move the thresholds, download the masked dataset), the runs side by side and their adapters.' : ''}`;
  for (const id of ['load-model', 'score', 'train']) $<HTMLButtonElement>(id).disabled = true;
}

function dispatch(r: Reply): void {
  switch (r.type) {
    case 'ready':
      probe.ready = true;
      probe.where = r.where;
      state.device = { features: r.features, limits: r.limits };
      $('gpu').textContent = `${r.adapter} · ${r.where === 'worker' ? 'Web Worker' : 'main thread'}`;
      $('gpu').title = `features: ${r.features.join(', ') || 'none'}\nmax buffer: ${bytes(r.maxBufferBytes)}`;
      break;
    case 'load-progress':
      $('model-status').textContent = `reading ${r.file.split('/').pop()} ${bytes(r.loaded)}${r.total ? ` of ${bytes(r.total)}` : ''}`;
      break;
    case 'score-progress':
      $('score-bar').style.width = `${(100 * r.done) / Math.max(1, r.total)}%`;
      $('score-status').textContent = `${r.done} / ${r.total} examples · ${Math.round(r.tokensPerSecond).toLocaleString()} tokens/s · ${r.etaSeconds > 0 ? `${Math.ceil(r.etaSeconds)} s left` : ''}`;
      break;
    case 'train-progress': {
      if (!state.live) break;
      state.live.points.push(r.point);
      probe.losses.push(r.point.loss);
      const p = r.point;
      $('train-bar').style.width = `${(100 * p.step) / p.totalSteps}%`;
      $('train-status').textContent = `step ${p.step} / ${p.totalSteps} · loss ${p.loss.toFixed(3)} · ${Math.round(p.tokensPerSecond).toLocaleString()} tokens/s · ETA ${duration(p.etaMs / 1000)}`;
      drawChart();
      break;
    }
    case 'paused': {
      probe.paused = true;
      const b = $<HTMLButtonElement>('pause');
      b.textContent = 'Resume';
      b.disabled = false;
      $('finish').hidden = false;
      $('train-status').textContent = `paused after step ${r.step} (a checkpoint holds the adapter and optimiser state)`;
      break;
    }
    case 'planned':
      showPlan(r.plan);
      break;
    case 'error':
      probe.errors.push(`${r.during}: ${r.name}: ${r.message}`);
      if (r.during !== 'init') toast(`${r.name}: ${r.message}`);
      break;
    default:
  }
}

// ---------------------------------------------------------------- step 1: model

/** The request's source for the chosen option, or null when the user still has to give one. */
async function modelSourceFor(choice: ModelChoice): Promise<ModelSource | null> {
  if (choice === 'file') {
    if (state.picked.length === 0) return $<HTMLInputElement>('model-files').click(), null;
    return { kind: 'files', files: state.picked };
  }
  if (choice === 'url') {
    const url = $<HTMLInputElement>('model-url').value.trim();
    if (!/^https?:\/\/\S+$/i.test(url)) {
      toast('Type the http(s) address of a .gguf file, a llama2.c .bin (its tok*.bin beside it) or a Hugging Face repository.');
      $('model-url').focus();
      return null;
    }
    return { kind: 'url', url };
  }
  const d = await defaultSource('model');
  probe.sources.model = d.note;
  return { kind: 'url', url: d.url, tokenizer: MODEL_TOKENIZER };
}

const chosen = (name: string) => (document.querySelector(`input[name=${name}]:checked`) as HTMLInputElement).value;
function choose(name: string, value: string): void {
  (document.querySelector(`input[name=${name}][value=${value}]`) as HTMLInputElement).checked = true;
}

async function loadModelStep(choice = chosen('model') as ModelChoice): Promise<void> {
  // A paused run resumes on the model it started with; another model would leave it nothing to resume.
  if (state.live) return toast('Finish the training run first (Resume, or "Finish here" when paused), then load another model.');
  const source = await modelSourceFor(choice);
  if (!source) return;
  await busy('load-model', async () => {
    $('model-status').textContent = 'loading…';
    const { info } = await call({ type: 'load', source }, 'loaded');
    state.model = info;
    probe.modelLoaded = true;
    probe.loads++;
    probe.model = info.source;
    await adoptSavedAdapters(info);
    $('model-status').textContent = '';
    $('model-info').innerHTML = modelFacts(info, state.device, choice === 'default' ? probe.sources.model : describeSource(source))
      .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('');
  });
  requestPlan();
}

/** Saved adapters join the comparison of generations when they were trained for a model of this shape. */
async function adoptSavedAdapters(model: ModelInfo): Promise<void> {
  for (const a of state.saved.adapters) {
    if (a.modelKey === modelKey(model)) await call({ type: 'adopt', label: a.label, files: a.files }, 'adopted');
  }
}

/** Model files from the file or folder picker, or dropped on the model card: load them at once. */
function pickModelFiles(files: File[]): void {
  if (files.length === 0) return;
  state.picked = files;
  choose('model', 'file');
  $('picked').textContent = `${files.length} file${files.length > 1 ? 's' : ''}: ${clip(files.map((f) => f.name).join(', '), 90)}`;
  void loadModelStep('file');
}

function acceptModelDrops(zone: HTMLElement): void {
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('dropping');
  });
  zone.addEventListener('dragleave', (e) => {
    if (!zone.contains(e.relatedTarget as Node | null)) zone.classList.remove('dropping');
  });
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('dropping');
    if (!e.dataTransfer) return;
    if (!probe.ready) return toast('Loading a model needs WebGPU.');
    void filesFromDrop(e.dataTransfer).then(pickModelFiles, (err: Error) => toast(`could not read the dropped files: ${err.message}`));
  });
}

// ---------------------------------------------------------------- step 2: data

async function loadDataStep(): Promise<void> {
  const fromFile = chosen('data') === 'file';
  const limit = Math.max(1, Number($<HTMLInputElement>('examples').value) || 200);
  await busy('load-data', async () => {
    let name: string;
    let records: RawRecord[];
    const rejected: { line: number; why: string }[] = [];
    if (fromFile) {
      const file = $<HTMLInputElement>('data-file').files?.[0];
      if (!file) return void $<HTMLInputElement>('data-file').click();
      name = file.name;
      try {
        records = await readRecordsBlob(file);
      } catch {
        records = tolerantJsonl(await file.text(), rejected);
      }
    } else {
      name = 'GSM8K train.jsonl';
      $('data-status').textContent = 'fetching…';
      const d = await defaultSource('data');
      probe.sources.data = d.note;
      const response = await fetch(d.url);
      if (!response.ok) throw new Error(`${d.url}: HTTP ${response.status}`);
      // The sample is the file's first lines: no need to parse thousands of records.
      const text = (await response.text()).split('\n').slice(0, limit).join('\n');
      records = parseRecordsText(text, name);
    }
    const examples: Example[] = [];
    for (const r of records) {
      if (examples.length >= limit) break;
      try {
        const ex = recordToExample(r.value, name, r.line, {}, r.key);
        if (ex.completion.trim() === '') rejected.push({ line: r.line, why: 'the completion is empty: nothing to train on' });
        else examples.push(ex);
      } catch (e) {
        rejected.push({ line: r.line, why: (e as Error).message });
      }
    }
    // Held-out: the first lines of GSM8K's test split for the sample; a tenth of a file's examples otherwise.
    let heldOut: Example[] = [];
    const heldOutCount = Math.min(64, Math.max(4, Math.round(limit / 4)));
    if (!fromFile) {
      const r = await fetch((await defaultSource('heldOut')).url);
      if (r.ok) heldOut = parseRecordsText((await r.text()).split('\n').slice(0, heldOutCount).join('\n'), 'GSM8K test.jsonl').map((x) => recordToExample(x.value, 'GSM8K test.jsonl', x.line));
    } else if (examples.length >= 10) heldOut = examples.splice(examples.length - Math.max(1, Math.round(examples.length / 10)));
    state.dataName = name;
    state.examples = examples;
    state.heldOut = heldOut;
    const promptBox = $<HTMLTextAreaElement>('prompt');
    if (!promptBox.value) promptBox.value = (heldOut[0] ?? examples[0])?.prompt ?? '';
    probe.examples = examples.length;
    $('data-status').textContent = '';
    const first = examples[0];
    $('data-info').innerHTML = `<p><b>${examples.length}</b> training examples from <code>${escapeHtml(name)}</code>${rejected.length ? `, <b class="warn">${rejected.length} rejected</b>` : ', none rejected'}; ${heldOut.length ? `<b>${heldOut.length}</b> held out (${fromFile ? 'the last tenth of the file' : 'GSM8K test split'}) to compare runs` : 'no held-out set (too few examples)'}.</p>` +
      (fromFile ? '' : `<p class="small muted" data-testid="data-source">loaded from ${escapeHtml(probe.sources.data ?? '')}</p>`) +
      (rejected.length ? `<ul class="rejects">${rejected.slice(0, 8).map((r) => `<li>line ${r.line}: ${escapeHtml(r.why)}</li>`).join('')}${rejected.length > 8 ? `<li>… and ${rejected.length - 8} more</li>` : ''}</ul>` : '') +
      (first ? `<div class="sample"><div><span class="k">prompt</span>${escapeHtml(clip(first.prompt, 220))}</div><div><span class="k">completion</span>${escapeHtml(clip(first.completion, 260))}</div></div>` : '');
  });
}

/** JSONL with some broken lines: keep the good ones, say why the others were rejected. */
function tolerantJsonl(text: string, rejected: { line: number; why: string }[]): RawRecord[] {
  const out: RawRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push({ line: i + 1, value: JSON.parse(line) });
    } catch (e) {
      rejected.push({ line: i + 1, why: `not valid JSON (${(e as Error).message})` });
    }
  });
  return out;
}

// ---------------------------------------------------------------- step 3: score

async function scoreStep(): Promise<void> {
  await busy('score', async () => {
    const model = state.model!;
    $('score-bar').style.width = '0%';
    $('score-status').textContent = 'tokenising and compiling shaders…';
    const { scored, summary } = await call({ type: 'score', examples: state.examples, batchSize: 8 }, 'scored');
    const saved: SavedScores = { savedAt: new Date().toISOString(), model: model.source, modelKey: modelKey(model), data: state.dataName, scored, summary };
    showScores(saved);
    $('score-status').textContent = `${summary.examples} examples · ${count(summary.labelTokens)} label tokens in ${summary.seconds.toFixed(1)} s (${Math.round(summary.tokensPerSecond).toLocaleString()} tokens/s) · kept in this browser`;
    await saveScores(saved);
    state.saved.scores = saved;
    renderSavedStrip();
    probe.scored = true; // after the save: a test may reload the page next
  });
}

/** Scores fresh from the GPU or from IndexedDB: the thresholds start at XTF's choice. */
function showScores(s: SavedScores): void {
  state.scored = s.scored;
  state.summary = s.summary;
  state.scoresFrom = { model: s.model, modelKey: s.modelKey, data: s.data, savedAt: s.savedAt };
  state.shown = 10;
  initThresholds(s.summary);
  $('score-results').hidden = false;
  applySelection();
  requestPlan();
}

function initThresholds(summary: DatasetSummary): void {
  state.options = structuredClone(XTF_DEFAULTS);
  $<HTMLInputElement>('kn').value = String(state.options.kn.threshold);
  $<HTMLInputElement>('ri').value = String(state.options.ri.fenceR);
  const trs = state.scored.flatMap((e) => e.tr).filter((v): v is number => v !== null && Number.isFinite(v));
  const lo = Math.min(...trs), hi = Math.max(...trs);
  state.trRange = [lo, hi];
  const cuts = summary.thresholds?.trCuts ?? [];
  state.trCuts = [...cuts];
  for (const id of ['tr-lo', 'tr-hi']) {
    const el = $<HTMLInputElement>(id);
    el.min = String(lo);
    el.max = String(hi);
    el.step = String((hi - lo) / 400 || 0.001);
  }
  $<HTMLInputElement>('tr-lo').value = String(cuts[0] ?? hi);
  $<HTMLInputElement>('tr-hi').value = String(cuts[1] ?? hi);
}

function readThresholds(): void {
  state.options.kn.threshold = Number($<HTMLInputElement>('kn').value);
  state.options.ri.fenceR = Number($<HTMLInputElement>('ri').value);
  let lo = Number($<HTMLInputElement>('tr-lo').value);
  let hi = Number($<HTMLInputElement>('tr-hi').value);
  if (hi < lo) [lo, hi] = [hi, lo];
  state.trCuts = [lo, hi >= state.trRange[1] ? Infinity : hi];
}

function applySelection(): void {
  const t0 = performance.now();
  state.view = state.trCuts.length === 0 && sameOptions() ? state.scored : reselect(state.scored, state.options, { trCuts: state.trCuts });
  const summary = summaryFromRecords(state.view);
  const ms = performance.now() - t0;
  $('tr-lo-v').textContent = fmt(Number($<HTMLInputElement>('tr-lo').value));
  $('tr-hi-v').textContent = state.trCuts[1] === Infinity ? 'the top' : fmt(state.trCuts[1] ?? NaN);
  renderFractions(summary, ms);
  renderHeatmap();
}

/** The current selection (thresholds as set now) as pre-tokenised JSONL: labels -100 on prompt and masked tokens. */
function downloadMasked(): void {
  const text = state.view.map((ex) => exportLine(ex, 'hf')).join('\n') + '\n';
  const a = document.createElement('a');
  a.download = 'xtf-masked.hf.jsonl';
  a.href = URL.createObjectURL(new Blob([text], { type: 'application/jsonl' }));
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

const sameOptions = () => state.options.kn.threshold === XTF_DEFAULTS.kn.threshold && state.options.ri.fenceR === XTF_DEFAULTS.ri.fenceR;

function renderFractions(s: DatasetSummary, ms: number): void {
  probe.maskedTokens = Math.round(s.fractionMasked * s.labelTokens);
  probe.labelTokens = s.labelTokens;
  $('fractions').innerHTML = fractionsHtml(s, ms);
}

function renderHeatmap(): void {
  $('heatmap').innerHTML = heatmapHtml(state.view.slice(0, state.shown));
  $('more').hidden = state.shown >= state.view.length;
}

function showTip(ev: MouseEvent): void {
  const el = (ev.target as HTMLElement).closest('.tok[data-e]') as HTMLElement | null;
  const tip = $('tip');
  if (!el) return void (tip.hidden = true);
  const ex = state.view[Number(el.dataset.e)];
  const t = Number(el.dataset.t);
  if (!ex) return;
  tip.innerHTML = tokenTipHtml(ex, t, state.summary?.thresholds?.riFences[ex.id] ?? null, state.options.kn.threshold);
  tip.hidden = false;
  tip.style.left = `${Math.min(ev.clientX + 14, innerWidth - 240)}px`;
  tip.style.top = `${ev.clientY + 16}px`;
}

// ---------------------------------------------------------------- step 4: train

const COLOURS = ['#2563eb', '#ea580c', '#059669', '#9333ea', '#64748b', '#db2777'];

function readSettings(): TrainSettings {
  return {
    steps: Math.max(1, Number($<HTMLInputElement>('steps').value) | 0),
    batchSize: Math.max(1, Number($<HTMLInputElement>('batch').value) | 0),
    lr: Number($<HTMLInputElement>('lr').value),
    rank: Math.max(1, Number($<HTMLInputElement>('rank').value) | 0),
    seed: 0,
  };
}

/** Asks the engine what a run at the current settings needs; the answer arrives as 'planned'. */
function requestPlan(): void {
  if (!state.model || !probe.ready) return;
  const s = readSettings();
  // Micro-batches pad to their longest example, so the longest one sets the peak.
  const longest = Math.max(0, ...state.view.map((e) => e.tokens.length));
  send({ type: 'plan', batchSize: s.batchSize, rank: s.rank, seqLen: longest || state.model.maxSeqLen });
}

function showPlan(p: MemoryPlanReply): void {
  probe.plan = p;
  const el = $('plan');
  el.className = `plan ${p.problem ? 'bad' : 'ok'}`;
  el.innerHTML = `<b>GPU memory for this run ≈ ${bytes(p.peakBytes)}</b> at batch ${p.batchSize} × ${p.seqLen} tokens, rank ${p.rank}: ` +
    `weights ${bytes(p.weightsBytes)} · LoRA + gradients + AdamW ${bytes(p.trainableBytes)} · activations ${bytes(p.activationBytes)} · largest tensor ${escapeHtml(p.largestTensor)} ${bytes(p.largestTensorBytes)}. ` +
    (p.problem ? `<span class="warn">${escapeHtml(p.problem)}</span>` : 'Fits this device.');
}

/** Labels name runs in the chart, the table and the engine's adapters, so each must be unique. */
function uniqueLabel(base: string): string {
  const taken = new Set(state.runs.map((r) => r.label));
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base} #${n}`)) return `${base} #${n}`;
}

/** Label tokens that can enter the loss (the first token of a sequence is never a target). */
const lossTokens = (records: TokenizedRecord[]) => records.reduce((s, r) => s + r.labelMask.filter((m, i) => m && i > 0).length, 0);

async function trainStep(): Promise<void> {
  const mask = $<HTMLSelectElement>('mask').value === 'all' ? 'all' : 'xtf';
  const model = state.model!;
  const items = state.view.map((ex) => scoredToTraining(ex, model.maxSeqLen));
  const records = items.map((i) => (mask === 'xtf' ? i.train : i.labels));
  const settings = readSettings();
  const label = uniqueLabel(mask === 'xtf' ? 'XTF mask' : 'all label tokens');
  const live: ChartRun = { label, colour: COLOURS[state.runs.length % COLOURS.length], points: [] };
  state.live = live;
  probe.losses = [];
  $<HTMLButtonElement>('pause').disabled = false;
  await busy('train', async () => {
    $('train-bar').style.width = '0%';
    $('train-status').textContent = 'compiling shaders…';
    const done = await call({ type: 'train', records, heldOut: state.heldOut, settings, label }, 'trained');
    const labelTokens = lossTokens(items.map((i) => i.labels));
    const run: SavedRun = {
      ...live, savedAt: new Date().toISOString(), model: model.source, settings, mask, steps: done.steps, seconds: done.seconds,
      heldOutBefore: done.heldOutBefore, heldOutAfter: done.heldOutAfter, trainedTokens: done.trainedTokens,
      maskedFraction: labelTokens ? 1 - lossTokens(records) / labelTokens : 0,
      tokensPerSecond: live.points.at(-1)?.tokensPerSecond ?? 0, reason: done.reason,
    };
    state.runs.push(run);
    state.live = null;
    renderRuns();
    $('train-facts').innerHTML = runFacts(run, lossTokens(records));
    const adapter: SavedAdapter = { label: done.label, modelKey: modelKey(model), savedAt: run.savedAt, steps: done.steps, files: done.files, losses: run.points.map((p) => p.loss) };
    const adapters = withAdapter(state.saved.adapters, adapter);
    showDownloads(adapters, false);
    await Promise.all([saveRuns(state.runs), saveAdapters(adapters)]);
    Object.assign(state.saved, { runs: [...state.runs], adapters });
    renderSavedStrip();
    // Tests read the table, the downloads and the saved state once this is set: it comes after all three.
    probe.trained = true;
  });
  state.live = null;
  renderRuns();
  $<HTMLButtonElement>('pause').disabled = true;
  $('pause').textContent = 'Pause';
  $('finish').hidden = true;
}

function runFacts(run: SavedRun, perEpoch: number): string {
  const losses = run.points.map((p) => p.loss);
  return [
    ['run', `${run.label} · ${run.steps} steps${run.reason === 'aborted' ? ' (finished early)' : ''}`],
    ['time', `${run.seconds.toFixed(1)} s`],
    ['loss', losses.length ? `${losses[0].toFixed(3)} → ${losses.at(-1)!.toFixed(3)}` : '—'],
    ['tokens in the loss', `${count(perEpoch)} per epoch`],
  ].map(([k, v]) => `<dt>${k}</dt><dd>${escapeHtml(v)}</dd>`).join('');
}

function drawChart(): void {
  const runs: ChartRun[] = state.live ? [...state.runs, state.live] : state.runs;
  $('chart').innerHTML = lossChart(runs, runs.length - 1);
}

/** The chart and the side-by-side table of every finished run (saved ones included). */
function renderRuns(): void {
  drawChart();
  $('runs').innerHTML = state.runs.length
    ? `<h3>Runs side by side <span class="muted small">held-out loss on the same tokens for every run</span></h3>${runsTable(state.runs)}`
    : '';
}

/** One row per adapter, newest first: the PEFT folder as a zip, and its two files. */
function showDownloads(adapters: readonly SavedAdapter[], restored: boolean): void {
  $('downloads').querySelectorAll<HTMLAnchorElement>('a[href^="blob:"]').forEach((a) => URL.revokeObjectURL(a.href));
  const link = (name: string, data: Uint8Array, type: string) =>
    `<a class="button" download="${name}" href="${URL.createObjectURL(new Blob([data as BlobPart], { type }))}">${name}</a>`;
  const row = (a: SavedAdapter) => {
    const zip = zipSync(Object.fromEntries(Object.entries(a.files).map(([k, v]) => [`adapter/${k}`, v])));
    const slug = a.label.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
    return `<div class="adapter" data-adapter="${escapeHtml(a.label)}"><div class="who">${escapeHtml(a.label)} <span class="muted small">${a.steps} steps · ${when(a.savedAt)}</span></div>` +
      `<div class="row">${link(`adapter-${slug}.zip`, zip, 'application/zip')}${Object.entries(a.files).map(([k, v]) => link(k, v, k.endsWith('.json') ? 'application/json' : 'application/octet-stream')).join('')}</div></div>`;
  };
  $('downloads').innerHTML = adapters.length === 0 ? '' :
    `<h3>${restored ? 'Saved adapters' : 'Adapters'} <span class="muted small">PEFT LoRA, one per run${restored ? '' : ' · kept in this browser'}</span></h3>` +
    [...adapters].reverse().map(row).join('') +
    `<p class="small muted">Unzip and load with <code>PeftModel.from_pretrained(base, "adapter")</code>, or <code>xtf generate --adapter adapter</code>.</p>`;
}

// ---------------------------------------------------------------- step 5: compare

async function generateStep(): Promise<void> {
  const prompt = $<HTMLTextAreaElement>('prompt').value;
  await busy('generate', async () => {
    $('generations').innerHTML = '<p class="muted">generating…</p>';
    const { outputs } = await call({ type: 'generate', prompt, maxTokens: Math.max(1, Number($<HTMLInputElement>('max-tokens').value) | 0) }, 'generated');
    const comparison: SavedComparison = { savedAt: new Date().toISOString(), prompt, outputs };
    showComparison(comparison, false);
    await saveComparison(comparison);
    state.saved.comparison = comparison;
    renderSavedStrip();
    probe.generations = outputs.length; // after the save: a test may reload the page next
  });
}

function showComparison(c: SavedComparison, restored: boolean): void {
  const colour = (label: string) => state.runs.find((r) => r.label === label)?.colour ?? '#0f172a';
  $('generations').innerHTML = (restored ? `<p class="small muted gen-note">saved comparison · ${when(c.savedAt)}</p>` : '') +
    c.outputs.map((o) => `<div class="gen"><div class="who"><span class="swatch" style="background:${colour(o.label)}"></span>${escapeHtml(o.label)} <span class="muted small">${o.tokens} tokens</span></div><div class="out"><span class="muted">…${escapeHtml(c.prompt.slice(-60))}</span>${escapeHtml(o.text)}</div></div>`).join('');
}

// ---------------------------------------------------------------- saved state

/** Shows what IndexedDB holds; it needs neither a model nor WebGPU. */
function restore(saved: SavedState): void {
  state.saved = saved;
  if (saved.scores) {
    showScores(saved.scores);
    $('score-status').textContent = `saved scores · ${saved.scores.summary.examples} examples of ${saved.scores.data} · scored by ${saved.scores.model.split('/').pop()} · ${when(saved.scores.savedAt)}`;
  }
  state.runs = [...saved.runs];
  renderRuns();
  if (saved.comparison) {
    showComparison(saved.comparison, true);
    $<HTMLTextAreaElement>('prompt').value = saved.comparison.prompt;
  }
  showDownloads(saved.adapters, true);
  probe.restored = { scores: saved.scores?.scored.length ?? 0, runs: saved.runs.length, adapters: saved.adapters.length, comparison: !!saved.comparison };
  renderSavedStrip();
}

const savedSomething = () => !!(state.saved.scores || state.saved.runs.length || state.saved.adapters.length || state.saved.comparison);

function renderSavedStrip(): void {
  const s = state.saved;
  const parts = [
    s.scores && `scores of ${count(s.scores.scored.length)} examples`,
    s.runs.length && `${s.runs.length} training run${s.runs.length > 1 ? 's' : ''}`,
    s.adapters.length && `the adapter${s.adapters.length > 1 ? 's' : ''} of ${s.adapters.map((a) => `“${escapeHtml(a.label)}”`).join(', ')}`,
    s.comparison && 'the last comparison of generations',
  ].filter(Boolean);
  $('saved').hidden = parts.length === 0;
  $('saved-text').innerHTML = `<b>Kept in this browser</b> (IndexedDB): ${parts.join(' · ')}. A reload brings them back, even without WebGPU.`;
}

/** Forgets everything saved and takes the results it showed off the page; the model and data stay. */
async function clearSavedState(): Promise<void> {
  await clearSaved();
  state.saved = { runs: [], adapters: [] };
  Object.assign(state, { scored: [], view: [], summary: null, scoresFrom: null, runs: [] });
  $('score-results').hidden = true;
  for (const id of ['score-status', 'train-facts', 'downloads', 'generations', 'plan']) $(id).textContent = '';
  $('score-bar').style.width = '0%';
  renderRuns();
  renderSavedStrip();
  refreshButtons();
  probe.cleared = true;
}

// ---------------------------------------------------------------- helpers

async function busy(button: string, work: () => Promise<void>): Promise<void> {
  const b = $<HTMLButtonElement>(button);
  b.disabled = true;
  b.classList.add('working');
  state.busy = true;
  try {
    await work();
  } catch (e) {
    toast(`${(e as Error).name}: ${(e as Error).message}`);
    probe.errors.push((e as Error).message);
  } finally {
    b.classList.remove('working');
    state.busy = false;
    b.disabled = false;
    refreshButtons();
  }
}

function refreshButtons(): void {
  if (state.busy) return;
  const gpu = probe.ready;
  $<HTMLButtonElement>('load-model').disabled = !gpu;
  $<HTMLButtonElement>('generate').disabled = !state.model;
  $<HTMLButtonElement>('score').disabled = !(state.model && state.examples.length > 0);
  const train = $<HTMLButtonElement>('train');
  const foreign = state.model && state.scoresFrom && state.scoresFrom.modelKey !== modelKey(state.model);
  train.disabled = !(state.model && state.scored.length > 0) || !!foreign;
  train.title = foreign ? `These scores come from ${state.scoresFrom!.model} (${state.scoresFrom!.modelKey}); score again with the loaded model.` : '';
}

function toast(message: string): void {
  const t = document.createElement('div');
  t.className = 'toast';
  t.textContent = message;
  document.body.append(t);
  setTimeout(() => t.remove(), 9000);
}

// ---------------------------------------------------------------- wiring

$('load-model').onclick = () => void loadModelStep();
$('model-files').onchange = () => pickModelFiles(Array.from($<HTMLInputElement>('model-files').files ?? []));
$('model-folder').onchange = () => pickModelFiles(Array.from($<HTMLInputElement>('model-folder').files ?? []));
$('pick-files').onclick = () => $('model-files').click();
$('pick-folder').onclick = () => $('model-folder').click();
$('model-url').addEventListener('input', () => choose('model', 'url'));
$('model-url').addEventListener('keydown', (e) => e.key === 'Enter' && probe.ready && void loadModelStep('url'));
acceptModelDrops($('step-model'));
$('load-data').onclick = () => void loadDataStep();
$('data-file').onchange = () => {
  choose('data', 'file');
  void loadDataStep();
};
for (const r of Array.from(document.querySelectorAll<HTMLInputElement>('input[name=model]'))) r.onchange = () => r.value === 'file' && state.picked.length === 0 && $<HTMLInputElement>('model-files').click();
for (const r of Array.from(document.querySelectorAll<HTMLInputElement>('input[name=data]'))) r.onchange = () => r.value === 'file' && $<HTMLInputElement>('data-file').click();
$('score').onclick = () => void scoreStep();
$('train').onclick = () => void trainStep();
$('generate').onclick = () => void generateStep();
for (const id of ['batch', 'rank']) $(id).addEventListener('input', requestPlan);
$('pause').onclick = () => {
  const b = $<HTMLButtonElement>('pause');
  if (b.textContent === 'Resume') {
    b.textContent = 'Pause';
    $('finish').hidden = true;
    probe.paused = false;
    $('train-status').textContent = 'resuming…';
    send({ type: 'resume' });
  } else {
    b.disabled = true;
    $('train-status').textContent = 'pausing after this step…';
    send({ type: 'stop' });
  }
};
$('finish').onclick = () => (($('finish').hidden = true), send({ type: 'finish' }));
for (const id of ['kn', 'ri', 'tr-lo', 'tr-hi']) $(id).addEventListener('input', () => (readThresholds(), applySelection()));
$('reset-thresholds').onclick = () => state.summary && (initThresholds(state.summary), applySelection());
$('download-masked').onclick = downloadMasked;
$('more').onclick = () => ((state.shown += 20), renderHeatmap());
$('heatmap').addEventListener('mousemove', showTip);
$('heatmap').addEventListener('mouseleave', () => ($('tip').hidden = true));
$('clear-saved').onclick = () => void clearSavedState();
drawChart();

void (async () => {
  restore(await loadSaved());
  await startEngine();
  refreshButtons();
  if (!probe.ready) return;
  // The defaults are small: load them at once so the first click can score. (A reload may have kept
  // another model choice in the form; the first load is always the default.)
  choose('model', 'default');
  await Promise.all([loadModelStep('default'), loadDataStep()]);
})();
