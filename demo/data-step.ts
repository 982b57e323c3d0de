// Step 2, the data: the GSM8K sample or a file from disk in any format xtf train reads, parsed into
// training records (bad records rejected with the reason), plus a held-out set that every run's loss is
// measured on.
import { exampleOf } from '../src/data/examples.ts';
import { parseRecordsText, readRecordsBlob, type RawRecord } from '../src/data/files.ts';
import { isTokenRecord, toTrainRecord, type TrainRecord } from '../src/data/records.ts';
import { formatBytes as bytes } from '../src/gpu/errors.ts';
import { escapeHtml } from '../src/report/html.ts';
import { $, choose, chosen } from './dom.ts';
import { clip } from './format.ts';
import { busy, probe, state } from './session.ts';
import { defaultSource } from './sources.ts';
import { storedBytes, storedFile } from './stored-files.ts';
import { storageNote } from './stored-view.ts';

export async function loadDataStep(): Promise<void> {
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
      // Stored in this browser on the first download, read from there afterwards (also offline).
      const got = await storedFile(d.url, (p) => ($('data-status').textContent = `downloading ${d.url.split('/').pop()} ${bytes(p.loaded)}${p.total ? ` of ${bytes(p.total)}` : ''}`));
      if (!got.bytes) throw new Error(`${d.url}: HTTP 404 (not found)`);
      probe.sources.data = storageNote(d.note, got.events);
      // The sample is the file's first lines: no need to parse thousands of records.
      const text = new TextDecoder().decode(got.bytes).split('\n').slice(0, limit).join('\n');
      records = parseRecordsText(text, name);
    }
    const examples: TrainRecord[] = [];
    for (const r of records) {
      if (examples.length >= limit) break;
      try {
        const record = toTrainRecord(r.value, name, r.line, {}, r.key);
        if (!hasLabels(record)) rejected.push({ line: r.line, why: 'no label text: nothing to train on' });
        else examples.push(record);
      } catch (e) {
        rejected.push({ line: r.line, why: (e as Error).message });
      }
    }
    // Held-out: the first lines of GSM8K's test split for the sample; a tenth of a file's examples otherwise.
    let heldOut: TrainRecord[] = [];
    const heldOutCount = Math.min(64, Math.max(4, Math.round(limit / 4)));
    if (!fromFile) {
      const r = await storedBytes((await defaultSource('heldOut')).url);
      if (r) heldOut = parseRecordsText(new TextDecoder().decode(r).split('\n').slice(0, heldOutCount).join('\n'), 'GSM8K test.jsonl').map((x) => toTrainRecord(x.value, 'GSM8K test.jsonl', x.line));
    } else if (examples.length >= 10) heldOut = examples.splice(examples.length - Math.max(1, Math.round(examples.length / 10)));
    state.dataName = name;
    state.task = fromFile ? null : 'gsm8k';
    state.examples = examples;
    state.heldOut = heldOut;
    const promptBox = $<HTMLTextAreaElement>('prompt');
    const view = (r: TrainRecord | undefined) => (r === undefined ? undefined : exampleOf(r));
    const firstPrompt = [view(heldOut[0]), view(examples[0])].find((e) => e !== undefined && typeof e !== 'string');
    if (!promptBox.value) promptBox.value = typeof firstPrompt === 'object' ? firstPrompt.prompt : '';
    probe.examples = examples.length;
    $('data-status').textContent = '';
    const first = view(examples[0]);
    $('data-info').innerHTML = `<p><b>${examples.length}</b> training examples from <code>${escapeHtml(name)}</code>${rejected.length ? `, <b class="warn">${rejected.length} rejected</b>` : ', none rejected'}; ${heldOut.length ? `<b>${heldOut.length}</b> held out (${fromFile ? 'the last tenth of the file' : 'GSM8K test split'}) to compare runs` : 'no held-out set (too few examples)'}.</p>` +
      (fromFile ? '' : `<p class="small muted" data-testid="data-source">loaded from ${escapeHtml(probe.sources.data ?? '')}</p>`) +
      (rejected.length ? `<ul class="rejects">${rejected.slice(0, 8).map((r) => `<li>line ${r.line}: ${escapeHtml(r.why)}</li>`).join('')}${rejected.length > 8 ? `<li>… and ${rejected.length - 8} more</li>` : ''}</ul>` : '') +
      (typeof first === 'object' ? `<div class="sample"><div><span class="k">prompt</span>${escapeHtml(clip(first.prompt, 220))}</div><div><span class="k">completion</span>${escapeHtml(clip(first.completion, 260))}</div></div>` : '');
  });
}

/** A record with some label token to train on (text in a trained segment, or a label id). */
function hasLabels(r: TrainRecord): boolean {
  return isTokenRecord(r) ? r.lossMask.some((m) => m) : r.segments.some((s) => s.train && s.text.trim() !== '');
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

export function wireDataStep(): void {
  $('load-data').onclick = () => void loadDataStep();
  $('data-file').onchange = () => {
    choose('data', 'file');
    void loadDataStep();
  };
  for (const r of Array.from(document.querySelectorAll<HTMLInputElement>('input[name=data]'))) r.onchange = () => r.value === 'file' && $<HTMLInputElement>('data-file').click();
}
