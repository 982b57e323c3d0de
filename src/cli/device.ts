import { parseArgs } from 'node:util';
import { Runtime, formatBytes, type AdapterReport } from '../gpu/index.ts';

const KEY_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
];

export function formatReport(r: AdapterReport): string {
  const lines = [`adapter   ${r.summary}`, `features  ${r.features.join(', ') || '(none)'}`];
  if (r.subgroupSizes) lines.push(`subgroups ${r.subgroupSizes.min === r.subgroupSizes.max ? r.subgroupSizes.min : `${r.subgroupSizes.min}-${r.subgroupSizes.max}`} lanes`);
  for (const k of KEY_LIMITS) {
    const v = r.limits[k];
    if (v !== undefined) lines.push(`${k.padEnd(34)} ${k.endsWith('Size') ? formatBytes(v) : v}`);
  }
  return lines.join('\n');
}

export async function deviceCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' }, help: { type: 'boolean' } } });
  if (values.help) {
    console.log('usage: xtf device [--json]\n\nReport the WebGPU adapter this machine gives, its features and limits.');
    return 0;
  }
  const rt = await Runtime.create();
  try {
    console.log(values.json ? JSON.stringify(rt.report, null, 2) : formatReport(rt.report));
  } finally {
    rt.destroy();
  }
  return 0;
}
