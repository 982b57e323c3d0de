// Runs every portable kernel case (test/portable/index.ts) on a Runtime in the page. Results go to
// window.__results (polled by run-browser-tests.mjs), to window.__report when the runner exposed
// it (streamed progress), and to the page itself (the screenshot).
import { Runtime } from '../../src/gpu/index.ts';
import { portableCases } from '../portable/index.ts';

export interface CaseResult {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
}

export interface BrowserResults {
  done: boolean;
  adapter: string;
  features: string[];
  cases: CaseResult[];
  /** Set when the suite could not run at all (no adapter, import failure...). */
  fatal?: string;
}

type ReportEvent =
  | { kind: 'adapter'; summary: string; features: string[] }
  | { kind: 'case'; result: CaseResult }
  | { kind: 'done'; results: BrowserResults };

declare global {
  interface Window {
    __results?: BrowserResults;
    __report?: (event: ReportEvent) => Promise<void>;
  }
}

/** A case that never settles (a lost device, a mapAsync that never resolves) must not hang the suite. */
const CASE_TIMEOUT_MS = Number(new URLSearchParams(location.search).get('caseTimeoutMs') ?? 180_000);

const results: BrowserResults = { done: false, adapter: '', features: [], cases: [] };
window.__results = results;

function report(event: ReportEvent): Promise<void> {
  return window.__report ? window.__report(event).catch(() => undefined) : Promise.resolve();
}

function element(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`portable.html has no #${id}`);
  return el;
}

function addRow(r: CaseResult): void {
  const tr = document.createElement('tr');
  tr.className = r.ok ? 'pass' : 'fail';
  for (const [cls, text] of [
    ['name', r.name],
    ['result', r.ok ? 'pass' : 'FAIL'],
    ['ms', r.ms.toFixed(0)],
    ['error', r.error ?? ''],
  ]) {
    const td = document.createElement('td');
    td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
  }
  element('cases').appendChild(tr);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

async function main(): Promise<void> {
  let rt: Runtime;
  try {
    rt = await Runtime.create();
  } catch (e) {
    results.fatal = describe(e);
    element('adapter').textContent = `no WebGPU device: ${results.fatal}`;
    return;
  }
  results.adapter = rt.report.summary;
  results.features = rt.report.features;
  element('adapter').textContent = `adapter: ${rt.report.summary}\nfeatures: ${rt.report.features.join(', ') || '(none)'}`;
  await report({ kind: 'adapter', summary: rt.report.summary, features: rt.report.features });
  try {
    for (const c of portableCases) {
      element('status').textContent = `running ${c.name} (${results.cases.length + 1}/${portableCases.length})…`;
      const t0 = performance.now();
      let result: CaseResult;
      try {
        await withTimeout(c.run(rt), CASE_TIMEOUT_MS, c.name);
        result = { name: c.name, ok: true, ms: performance.now() - t0 };
      } catch (e) {
        result = { name: c.name, ok: false, ms: performance.now() - t0, error: describe(e) };
      }
      results.cases.push(result);
      addRow(result);
      await report({ kind: 'case', result });
    }
    await rt.sync();
  } catch (e) {
    results.fatal = describe(e);
  } finally {
    rt.destroy();
  }
}

main()
  .catch((e) => {
    results.fatal = describe(e);
  })
  .finally(() => {
    const failed = results.cases.filter((r) => !r.ok).length;
    element('status').textContent =
      (results.fatal ? `suite aborted: ${results.fatal} — ` : '') +
      `${results.cases.length - failed} passed, ${failed} failed of ${portableCases.length} cases`;
    results.done = true;
    void report({ kind: 'done', results });
  });
