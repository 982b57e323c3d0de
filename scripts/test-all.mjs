// `npm test`: types, then the whole suite in the three runtimes — vitest in Node (Dawn), the portable
// kernel suite in Deno (wgpu) and in headless Chromium (Dawn), the demo end to end in Chromium — then
// one closing line with the totals.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
mkdirSync('test-output', { recursive: true });

/** The end of each failed section's output, printed again under the totals: CI keeps only the tail of
 *  a log, and a failure's own message is otherwise far above it. */
const failureTails = [];
const TAIL_LINES = 60;

function run(label, args, parse) {
  const t0 = Date.now();
  console.log(`\n=== ${label} ===`);
  const r = spawnSync(npm, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, NO_COLOR: '1' } });
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  // eslint-disable-next-line no-control-regex
  const plain = (text) => (text ?? '').replace(/\x1b\[[0-9;]*m/g, '');
  const counts = parse(plain(r.stdout));
  const seconds = ((Date.now() - t0) / 1000).toFixed(0);
  if (r.status !== 0 && counts.failed === 0) counts.failed = 1; // a crash or a failed run with nothing counted
  console.log(`=== ${label}: ${counts.passed} passed, ${counts.failed} failed (${seconds} s) ===`);
  if (counts.failed > 0) {
    const lines = `${plain(r.stdout)}\n${plain(r.stderr)}`.split('\n').filter((l) => l.trim() !== '');
    failureTails.push(`--- ${label} failed (exit ${r.status ?? r.signal}); its last ${Math.min(TAIL_LINES, lines.length)} lines of output:\n${lines.slice(-TAIL_LINES).join('\n')}`);
  }
  return counts;
}

// Types first: a type error anywhere (src, test, bench, demo) fails the run.
const types = run('typecheck (tsc)', ['run', '--silent', 'typecheck'], (out) => ({ passed: 1, failed: /error TS\d+/.test(out) ? 1 : 0 }));

const vitestJson = 'test-output/vitest.json';
rmSync(vitestJson, { force: true });
const node = run('node (vitest, Dawn)', ['run', '--silent', 'test:node', '--', '--reporter=default', '--reporter=json', `--outputFile=${vitestJson}`], () => {
  try {
    const j = JSON.parse(readFileSync(vitestJson, 'utf8'));
    // A suite that fails to load has no failed test; a failed test also fails its suites (not counted twice).
    return { passed: j.numPassedTests, failed: j.numFailedTests || (j.numFailedTestSuites ?? 0) };
  } catch {
    return { passed: 0, failed: 1 };
  }
});
// Deno counts each portable case as a step of one test.
const deno = run('deno (wgpu)', ['run', '--silent', 'test:deno'], (out) => {
  const m = out.match(/(ok|FAILED) \| (\d+) passed(?: \((\d+) steps\))? \| (\d+) failed(?: \((\d+) steps\))?/);
  return m ? { passed: Number(m[3] ?? m[2]), failed: Number(m[5] ?? m[4]) } : { passed: 0, failed: 1 };
});
const browser = run('chromium (Dawn)', ['run', '--silent', 'test:browser'], (out) => {
  const m = out.match(/browser: (\d+) passed, (\d+) failed/);
  return m ? { passed: Number(m[1]), failed: Number(m[2]) } : { passed: 0, failed: 1 };
});

// The Vite demo driven through its steps in Chromium (each checked step prints "ok").
const demo = run('demo (Chromium end to end)', ['run', '--silent', 'test:demo'], (out) => ({
  passed: (out.match(/^demo: \[[\d.]+ s\] ok /gm) ?? []).length,
  failed: /^demo: FAILED/m.test(out) ? 1 : 0,
}));

if (failureTails.length > 0) console.log(`\n${failureTails.join('\n\n')}`);
const passed = types.passed + node.passed + deno.passed + browser.passed + demo.passed;
const failed = types.failed + node.failed + deno.failed + browser.failed + demo.failed;
console.log(`\ntypecheck ${types.failed ? 'failed' : 'ok'}, node ${node.passed}/${node.passed + node.failed}, deno ${deno.passed}/${deno.passed + deno.failed}, chromium ${browser.passed}/${browser.passed + browser.failed}, demo ${demo.passed}/${demo.passed + demo.failed}`);
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
