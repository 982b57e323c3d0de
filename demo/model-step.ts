// Step 1, the model: the default, a typed URL, or files picked or dropped on the card. Loads it in the
// engine, fills the model card, and lets saved adapters for a model of this shape join the comparison.
import type { BaseDtypeChoice } from '../src/model/base-dtype.ts';
import { formatBytes as bytes } from '../src/gpu/errors.ts';
import { escapeHtml } from '../src/report/html.ts';
import { call, listen } from './connection.ts';
import { $, choose, chosen, toast } from './dom.ts';
import { filesFromDrop } from './dropped-files.ts';
import { clip } from './format.ts';
import { describeSource, modelFacts, modelKey } from './model-card.ts';
import { requestPlan } from './plan.ts';
import type { ModelInfo, ModelSource } from './protocol.ts';
import { busy, probe, state } from './session.ts';
import { defaultSource, MODEL_TOKENIZER } from './sources.ts';
import { hearLoad, renderStored, showDownload, storageNote } from './stored-view.ts';

type ModelChoice = 'default' | 'url' | 'file';

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

export async function loadModelStep(choice = chosen('model') as ModelChoice): Promise<void> {
  // A paused run resumes on the model it started with; another model would leave it nothing to resume.
  if (state.live) return toast('Finish the training run first (Resume, or "Finish here" when paused), then load another model.');
  const source = await modelSourceFor(choice);
  if (!source) return;
  await busy('load-model', async () => {
    $('model-status').textContent = 'loading…';
    // A URL's files are stored in this browser by the engine (stored-files.ts), which says what it did.
    const storing = source.kind === 'url' ? hearLoad(/\.(gguf|bin)$/i.test(new URL(source.url).pathname) ? source.url : undefined) : null;
    let info: ModelInfo;
    try {
      ({ info } = await call({ type: 'load', source, baseDtype: $<HTMLSelectElement>('base-dtype').value as BaseDtypeChoice }, 'loaded'));
    } finally {
      $('model-progress').hidden = true;
    }
    state.model = info;
    await adoptSavedAdapters(info);
    $('model-status').textContent = '';
    const origin = choice === 'default' ? probe.sources.model! : describeSource(source);
    const from = storing ? storageNote(origin, await storing.heard()) : origin;
    if (choice === 'default') probe.sources.model = from;
    $('model-info').innerHTML = modelFacts(info, state.device, from)
      .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('');
    void renderStored();
    // After the card: a test reads it as soon as the load count moves.
    probe.modelLoaded = true;
    probe.loads++;
    probe.model = info.source;
  });
  requestPlan();
}

/** Saved adapters join the comparison of generations when they were trained for a model of this shape. */
async function adoptSavedAdapters(model: ModelInfo): Promise<void> {
  if (state.device?.training) return; // adapters need WebGPU (the engine refuses them on gpu.js)
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
    if (!probe.ready) return toast('Loading a model needs WebGPU or WebGL.');
    void filesFromDrop(e.dataTransfer).then(pickModelFiles, (err: Error) => toast(`could not read the dropped files: ${err.message}`));
  });
}

export function wireModelStep(): void {
  $('load-model').onclick = () => void loadModelStep();
  $('model-files').onchange = () => pickModelFiles(Array.from($<HTMLInputElement>('model-files').files ?? []));
  $('model-folder').onchange = () => pickModelFiles(Array.from($<HTMLInputElement>('model-folder').files ?? []));
  $('pick-files').onclick = () => $('model-files').click();
  $('pick-folder').onclick = () => $('model-folder').click();
  $('model-url').addEventListener('input', () => choose('model', 'url'));
  $('model-url').addEventListener('keydown', (e) => e.key === 'Enter' && probe.ready && void loadModelStep('url'));
  acceptModelDrops($('step-model'));
  for (const r of Array.from(document.querySelectorAll<HTMLInputElement>('input[name=model]'))) r.onchange = () => r.value === 'file' && state.picked.length === 0 && $<HTMLInputElement>('model-files').click();
  listen((r) => {
    if (r.type !== 'load-progress') return;
    $('model-status').textContent = `reading ${r.file.split('/').pop()} ${bytes(r.loaded)}${r.total ? ` of ${bytes(r.total)}` : ''}`;
    if (/^https?:/.test(r.file)) showDownload(r.loaded, r.total);
  });
}
