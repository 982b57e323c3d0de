/// <reference types="vite/client" />
// The demo page: picks a model and data, drives the engine (a Web Worker with WebGPU), and shows XTF's
// selection, which it re-computes on the main thread when thresholds move (selection is pure CPU code).
import { zipSync } from 'fflate';
import { get as idbGet, set as idbSet } from 'idb-keyval';
import { recordToExample } from '../src/data/examples.ts';
import { parseRecordsText, readRecordsBlob, type RawRecord } from '../src/data/files.ts';
import { escapeHtml, summaryFromRecords, visiblePiece } from '../src/xtf/explain.ts';
import { exportLine } from '../src/xtf/export.ts';
import { XTF_DEFAULTS, type XtfOptions } from '../src/xtf/options.ts';
import { reselect } from '../src/xtf/select.ts';
import { scoredToTraining } from '../src/xtf/to-training.ts';
import type { DatasetSummary, Example, ScoredExample } from '../src/xtf/types.ts';
import type { ModelInfo, ModelSource, Reply, Request, TrainPoint } from './protocol.ts';

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
const ADAPTER_KEY = 'xtf-demo/adapter';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
for (const id of ['examples', 'steps', 'batch', 'lr', 'rank']) if (params.has(id)) $<HTMLInputElement>(id).value = params.get(id)!;

interface Run { label: string; points: TrainPoint[]; colour: string; heldOutBefore?: number | null; heldOutAfter?: number | null; seconds?: number }
interface Saved { label: string; savedAt: string; steps: number; files: Record<string, Uint8Array>; losses: number[] }
const state = {
  model: null as ModelInfo | null,
  device: null as { features: string[]; limits: Record<string, number> } | null,
  examples: [] as Example[],
  heldOut: [] as Example[],
  scored: [] as ScoredExample[],
  view: [] as ScoredExample[],
  summary: null as DatasetSummary | null,
  options: structuredClone(XTF_DEFAULTS) as XtfOptions,
  trCuts: [] as number[],
  trRange: [0, 1] as [number, number],
  shown: 10,
  runs: [] as Run[],
  busy: false,
};
// Read by the end-to-end test.
const probe = { paused: false, generations: 0, ready: false, where: '', modelLoaded: false, examples: 0, scored: false, maskedTokens: 0, labelTokens: 0, sources: {} as Record<string, string>, losses: [] as number[], trained: false, errors: [] as string[] };
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
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (e: MessageEvent<Reply>) => onReply(e.data);
    worker.onerror = (e) => onReply({ type: 'error', during: 'init', name: 'WorkerError', message: e.message });
    send = (req) => worker.postMessage(req);
    await call({ type: 'init' }, 'ready');
  } catch (workerError) {
    // A worker without WebGPU (some browsers expose it to pages only): run the engine in the page.
    console.warn('engine: no WebGPU in a worker, running in the page:', (workerError as Error).message);
    const { createEngine } = await import('./engine.ts');
    const handle = createEngine((r) => onReply(r), 'page');
    send = (req) => void handle(req);
    try {
      await call({ type: 'init' }, 'ready');
    } catch (e) {
      return noWebGpu(`WebGPU is present but no adapter was granted: ${(e as Error).message}`);
    }
  }
  gpuPill.className = 'pill ok';
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
    Saved adapters below can still be downloaded.`;
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
      const run = state.runs.at(-1);
      if (!run) break;
      run.points.push(r.point);
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
    case 'error':
      probe.errors.push(`${r.during}: ${r.name}: ${r.message}`);
      if (r.during !== 'init') toast(`${r.name}: ${r.message}`);
      break;
    default:
  }
}

// ---------------------------------------------------------------- step 1: model

async function loadModelStep(): Promise<void> {
  const fromFile = (document.querySelector('input[name=model]:checked') as HTMLInputElement).value === 'file';
  let source: ModelSource;
  if (fromFile) {
    const files = Array.from($<HTMLInputElement>('model-files').files ?? []);
    if (files.length === 0) return void $<HTMLInputElement>('model-files').click();
    source = { kind: 'files', files };
  } else {
    const d = await defaultSource('model');
    probe.sources.model = d.note;
    source = { kind: 'url', url: d.url, tokenizer: MODEL_TOKENIZER };
  }
  await busy('load-model', async () => {
    $('model-status').textContent = 'loading…';
    const { info } = await call({ type: 'load', source }, 'loaded');
    state.model = info;
    probe.modelLoaded = true;
    $('model-status').textContent = '';
    const facts: [string, string][] = [
      ['model', `${info.source.split('/').pop()} (${info.format})`],
      ['architecture', `${info.architecture} · ${info.nLayers} layers · dim ${info.dim} · ffn ${info.hiddenDim} · ${info.nHeads} heads (${info.nKvHeads} kv)`],
      ['parameters', `${count(info.parameters)} · ${bytes(info.weightsBytes)} in f32`],
      ['vocabulary · context', `${count(info.vocabSize)} tokens · ${info.maxSeqLen} positions`],
      ['LoRA (rank 8, all projections)', `${count(info.loraParameters)} trainable parameters`],
      ['GPU memory for training', `≈ ${bytes(info.trainPeakBytes)} at batch 8 × ${Math.min(256, info.maxSeqLen)}`],
      ...deviceFacts(),
    ];
    if (source.kind === 'url') facts.push(['loaded from', probe.sources.model ?? source.url]);
    $('model-info').innerHTML = facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('');
  });
  refreshButtons();
}

/** The device limits and features the run depends on, from the runtime's adapter report. */
function deviceFacts(): [string, string][] {
  const d = state.device;
  if (!d) return [];
  const lim = (k: string) => (d.limits[k] === undefined ? '—' : bytes(d.limits[k]));
  return [
    ['device limits', `maxStorageBufferBindingSize ${lim('maxStorageBufferBindingSize')} · maxBufferSize ${lim('maxBufferSize')} · maxComputeWorkgroupStorageSize ${lim('maxComputeWorkgroupStorageSize')}`],
    ['device features', d.features.join(', ') || 'none'],
  ];
}

// ---------------------------------------------------------------- step 2: data

async function loadDataStep(): Promise<void> {
  const fromFile = (document.querySelector('input[name=data]:checked') as HTMLInputElement).value === 'file';
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
  refreshButtons();
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
    $('score-bar').style.width = '0%';
    $('score-status').textContent = 'tokenising and compiling shaders…';
    const { scored, summary } = await call({ type: 'score', examples: state.examples, batchSize: 8 }, 'scored');
    state.scored = scored;
    state.summary = summary;
    $('score-status').textContent = `${summary.examples} examples · ${count(summary.labelTokens)} label tokens in ${summary.seconds.toFixed(1)} s (${Math.round(summary.tokensPerSecond).toLocaleString()} tokens/s)`;
    initThresholds(summary);
    $('score-results').hidden = false;
    probe.scored = true;
    applySelection();
  });
  refreshButtons();
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
  const masked = Math.round(s.fractionMasked * s.labelTokens);
  probe.maskedTokens = masked;
  probe.labelTokens = s.labelTokens;
  const bar = (cls: string, name: string, f: number) =>
    `<div class="frac"><span class="tag ${cls}">${name}</span><div class="track"><div class="fill ${cls}" style="width:${(100 * f).toFixed(1)}%"></div></div><b>${(100 * f).toFixed(1)}%</b></div>`;
  const overlaps = s.overlaps.map((o) => `${o.pair[0].toUpperCase()}∩${o.pair[1].toUpperCase()} ${o.count} (${(100 * o.overlap).toFixed(0)}%)`).join(' · ');
  $('fractions').innerHTML =
    bar('ri', 'RI', s.fractionFlagged.ri) + bar('kn', 'KN', s.fractionFlagged.kn) + bar('tr', 'TR', s.fractionFlagged.tr) + bar('all', 'any', s.fractionMasked) +
    `<p class="small muted">${count(masked)} of ${count(s.labelTokens)} label tokens masked · overlaps ${overlaps || '—'} · re-selected in ${ms.toFixed(0)} ms</p>` +
    `<p class="small muted">most masked: ${(['ri', 'kn', 'tr'] as const).map((a) => `<span class="tag ${a}">${a.toUpperCase()}</span> ${s.mostFlagged[a].slice(0, 5).map((t) => `<code>${visiblePiece(t.piece)}</code>`).join(' ') || '—'}`).join(' ')}</p>`;
}

function renderHeatmap(): void {
  const html: string[] = [];
  state.view.slice(0, state.shown).forEach((ex, e) => {
    const spans = ex.pieces.map((piece, t) => {
      if (piece === '' && !ex.label[t]) return ''; // BOS and other empty prompt pieces
      let cls = 'tok';
      if (!ex.label[t]) cls += ' prompt';
      else if (ex.flags[t].length > 0) cls += ` m ${ex.flags[t].length > 1 ? 'multi' : ex.flags[t][0]}`;
      return `<span class="${cls}" data-e="${e}" data-t="${t}">${visiblePiece(piece)}</span>`;
    });
    html.push(`<div class="ex"><div class="exid">${escapeHtml(ex.id)}</div><div class="toks">${spans.join('')}</div></div>`);
  });
  $('heatmap').innerHTML = html.join('');
  $('more').hidden = state.shown >= state.view.length;
}

function showTip(ev: MouseEvent): void {
  const el = (ev.target as HTMLElement).closest('.tok[data-e]') as HTMLElement | null;
  const tip = $('tip');
  if (!el) return void (tip.hidden = true);
  const ex = state.view[Number(el.dataset.e)];
  const t = Number(el.dataset.t);
  if (!ex) return;
  const fence = state.summary?.thresholds?.riFences[ex.id];
  const flags = ex.flags[t];
  tip.innerHTML = ex.label[t]
    ? `<div class="tp">${visiblePiece(ex.pieces[t])}</div>
       <div>p <b>${fmt(ex.p[t])}</b></div>
       <div><span class="tag ri">RI</span> ${fmt(ex.ri[t])} <span class="muted">fence ${fmt(fence ?? null)}</span></div>
       <div><span class="tag kn">KN</span> ${fmt(ex.kn[t])} <span class="muted">threshold ${fmt(state.options.kn.threshold)}</span></div>
       <div><span class="tag tr">TR</span> ${fmt(ex.tr[t])}</div>
       <div class="verdict ${flags.length ? 'masked' : 'kept'}">${flags.length ? `masked by ${flags.map((f) => f.toUpperCase()).join(' + ')}` : 'kept: trained on'}</div>`
    : `<div class="tp">${visiblePiece(ex.pieces[t])}</div><div class="muted">prompt token: never trained on</div>`;
  tip.hidden = false;
  tip.style.left = `${Math.min(ev.clientX + 14, innerWidth - 240)}px`;
  tip.style.top = `${ev.clientY + 16}px`;
}

// ---------------------------------------------------------------- step 4: train

const COLOURS = ['#2563eb', '#64748b', '#059669', '#d97706', '#9333ea'];

async function trainStep(): Promise<void> {
  const mode = $<HTMLSelectElement>('mask').value;
  const maxLen = state.model?.maxSeqLen ?? Infinity;
  const items = state.view.map((ex) => scoredToTraining(ex, maxLen));
  const records = items.map((i) => (mode === 'xtf' ? i.train : i.labels));
  const settings = {
    steps: Math.max(1, Number($<HTMLInputElement>('steps').value) | 0),
    batchSize: Math.max(1, Number($<HTMLInputElement>('batch').value) | 0),
    lr: Number($<HTMLInputElement>('lr').value),
    rank: Math.max(1, Number($<HTMLInputElement>('rank').value) | 0),
    seed: 0,
  };
  const label = mode === 'xtf' ? 'XTF mask' : 'all label tokens';
  state.runs.push({ label, points: [], colour: COLOURS[state.runs.length % COLOURS.length] });
  probe.losses = [];
  $<HTMLButtonElement>('pause').disabled = false;
  await busy('train', async () => {
    $('train-bar').style.width = '0%';
    $('train-status').textContent = 'compiling shaders…';
    const done = await call({ type: 'train', records, heldOut: state.heldOut, settings, label }, 'trained');
    const run = state.runs.at(-1)!;
    Object.assign(run, { heldOutBefore: done.heldOutBefore, heldOutAfter: done.heldOutAfter, seconds: done.seconds });
    const losses = run.points.map((p) => p.loss);
    probe.trained = true;
    const trained = records.reduce((s, r) => s + r.labelMask.filter((m, i) => m && i > 0).length, 0);
    $('train-facts').innerHTML = [
      ['run', `${done.label} · ${done.steps} steps${done.reason === 'aborted' ? ' (finished early)' : ''}`],
      ['time', `${done.seconds.toFixed(1)} s`],
      ['loss', losses.length ? `${losses[0].toFixed(3)} → ${losses.at(-1)!.toFixed(3)}` : '—'],
      ['tokens in the loss', `${count(trained)} per epoch`],
    ].map(([k, v]) => `<dt>${k}</dt><dd>${escapeHtml(v)}</dd>`).join('');
    $('runs').innerHTML = runsTable();
    const saved: Saved = { label: done.label, savedAt: new Date().toISOString(), steps: done.steps, files: done.files, losses };
    showDownloads(saved, false);
    await idbSet(ADAPTER_KEY, saved).catch((e) => console.warn('could not save the adapter in IndexedDB:', e));
  });
  $<HTMLButtonElement>('pause').disabled = true;
  $('pause').textContent = 'Pause';
  $('finish').hidden = true;
}

/** Every run of this session side by side: the same held-out tokens, so the numbers compare. */
function runsTable(): string {
  const rows = state.runs.filter((r) => r.seconds !== undefined).map((r) => {
    const l = r.points.map((p) => p.loss);
    const change = r.heldOutAfter != null && r.heldOutBefore != null ? r.heldOutAfter - r.heldOutBefore : null;
    return `<tr><td><span class="swatch" style="background:${r.colour}"></span>${escapeHtml(r.label)}</td><td>${l.length}</td><td>${l.length ? l.at(-1)!.toFixed(3) : '—'}</td>` +
      `<td>${fmt(r.heldOutBefore)} → <b>${fmt(r.heldOutAfter)}</b></td><td class="${change !== null && change < 0 ? 'good' : ''}">${change === null ? '—' : (change > 0 ? '+' : '') + change.toFixed(3)}</td></tr>`;
  });
  return `<table class="runs" data-testid="runs"><thead><tr><th>run</th><th>steps</th><th>last train loss</th><th>held-out loss</th><th>change</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function drawChart(): void {
  const W = 640, H = 260, L = 48, R = 12, T = 14, B = 34;
  const all = state.runs.flatMap((r) => r.points);
  const svg = $('chart');
  if (all.length === 0) return void (svg.innerHTML = `<text x="${W / 2}" y="${H / 2}" class="empty" text-anchor="middle">the loss curve appears here while training</text>`);
  const maxStep = Math.max(...all.map((p) => p.totalSteps));
  let lo = Math.min(...all.map((p) => p.loss)), hi = Math.max(...all.map((p) => p.loss));
  if (hi - lo < 1e-6) [lo, hi] = [lo - 0.5, hi + 0.5];
  const pad = (hi - lo) * 0.08;
  lo -= pad;
  hi += pad;
  const x = (s: number) => L + ((W - L - R) * s) / Math.max(1, maxStep);
  const y = (v: number) => T + ((H - T - B) * (hi - v)) / (hi - lo);
  const grid = Array.from({ length: 5 }, (_, i) => lo + ((hi - lo) * i) / 4)
    .map((v) => `<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" class="grid"/><text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(2)}</text>`).join('');
  const xt = [0, Math.round(maxStep / 2), maxStep].map((s) => `<text x="${x(s)}" y="${H - B + 16}" text-anchor="middle">${s}</text>`).join('');
  const lines = state.runs.map((r, i) => {
    const pts = r.points.map((p) => `${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`).join(' ');
    const last = r.points.at(-1);
    return `<polyline points="${pts}" fill="none" stroke="${r.colour}" stroke-width="${i === state.runs.length - 1 ? 2.5 : 1.5}" stroke-linejoin="round"/>` +
      (last ? `<circle cx="${x(last.step)}" cy="${y(last.loss)}" r="3.5" fill="${r.colour}"/>` : '') +
      `<g transform="translate(${W - R - 170},${T + 6 + i * 16})"><rect width="10" height="10" fill="${r.colour}" rx="2"/><text x="16" y="9">${escapeHtml(r.label)}</text></g>`;
  }).join('');
  svg.innerHTML = `${grid}${xt}<text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle" class="axis">optimiser step</text><text transform="translate(12,${(T + H - B) / 2}) rotate(-90)" text-anchor="middle" class="axis">training loss</text>${lines}`;
}

function showDownloads(saved: Saved, restored: boolean): void {
  const link = (name: string, data: Uint8Array, type: string) =>
    `<a class="button" download="${name}" href="${URL.createObjectURL(new Blob([data as BlobPart], { type }))}">${name}</a>`;
  const zip = zipSync(Object.fromEntries(Object.entries(saved.files).map(([k, v]) => [`adapter/${k}`, v])));
  $('downloads').innerHTML = `<h3>${restored ? 'Saved adapter' : 'Adapter'} <span class="muted small">PEFT LoRA · ${escapeHtml(saved.label)} · ${saved.steps} steps · ${new Date(saved.savedAt).toLocaleString()}${restored ? '' : ' · kept in this browser'}</span></h3>` +
    `<div class="row">${link('adapter.zip', zip, 'application/zip')}${Object.entries(saved.files).map(([k, v]) => link(k, v, k.endsWith('.json') ? 'application/json' : 'application/octet-stream')).join('')}</div>` +
    `<p class="small muted">Load with <code>PeftModel.from_pretrained(base, "adapter")</code>, or <code>xtf generate --adapter adapter</code>.</p>`;
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
    refreshButtons();
    b.disabled = button === 'generate' ? !state.model : button === 'score' ? !(state.model && state.examples.length) : button === 'train' ? state.scored.length === 0 : false;
  }
}

async function generateStep(): Promise<void> {
  const prompt = $<HTMLTextAreaElement>('prompt').value;
  await busy('generate', async () => {
    $('generations').innerHTML = '<p class="muted">generating…</p>';
    const { outputs } = await call({ type: 'generate', prompt, maxTokens: Math.max(1, Number($<HTMLInputElement>('max-tokens').value) | 0) }, 'generated');
    probe.generations = outputs.length;
    const colour = (label: string) => state.runs.find((r) => r.label === label)?.colour ?? '#0f172a';
    $('generations').innerHTML = outputs.map((o) => `<div class="gen"><div class="who"><span class="swatch" style="background:${colour(o.label)}"></span>${escapeHtml(o.label)} <span class="muted small">${o.tokens} tokens</span></div><div class="out"><span class="muted">…${escapeHtml(prompt.slice(-60))}</span>${escapeHtml(o.text)}</div></div>`).join('');
  });
}

function refreshButtons(): void {
  if (state.busy) return;
  $<HTMLButtonElement>('generate').disabled = !state.model;
  $<HTMLButtonElement>('score').disabled = !(state.model && state.examples.length > 0);
  $<HTMLButtonElement>('train').disabled = state.scored.length === 0;
}

function toast(message: string): void {
  const t = document.createElement('div');
  t.className = 'toast';
  t.textContent = message;
  document.body.append(t);
  setTimeout(() => t.remove(), 9000);
}

const fmt = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : Math.abs(v) < 0.001 ? v.toExponential(2) : v.toPrecision(3));
const count = (n: number) => n.toLocaleString('en');
const bytes = (n: number) => (n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : n < 1 << 30 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / (1 << 30)).toFixed(2)} GiB`);
const duration = (s: number) => (!Number.isFinite(s) ? '—' : s < 90 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`);
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);

// ---------------------------------------------------------------- wiring

$('load-model').onclick = () => void loadModelStep();
$('model-files').onchange = () => {
  (document.querySelector('input[name=model][value=file]') as HTMLInputElement).checked = true;
  void loadModelStep();
};
$('load-data').onclick = () => void loadDataStep();
$('data-file').onchange = () => {
  (document.querySelector('input[name=data][value=file]') as HTMLInputElement).checked = true;
  void loadDataStep();
};
for (const r of Array.from(document.querySelectorAll<HTMLInputElement>('input[name=model]'))) r.onchange = () => r.value === 'file' && $<HTMLInputElement>('model-files').click();
for (const r of Array.from(document.querySelectorAll<HTMLInputElement>('input[name=data]'))) r.onchange = () => r.value === 'file' && $<HTMLInputElement>('data-file').click();
$('score').onclick = () => void scoreStep();
$('train').onclick = () => void trainStep();
$('generate').onclick = () => void generateStep();
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
drawChart();

void (async () => {
  const saved = await idbGet<Saved>(ADAPTER_KEY).catch(() => undefined);
  if (saved) showDownloads(saved, true);
  await startEngine();
  if (!probe.ready) return;
  // The defaults are small: load them at once so the first click can score.
  await Promise.all([loadModelStep(), loadDataStep()]);
})();
