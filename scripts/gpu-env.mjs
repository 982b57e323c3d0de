// The environment WebGPU needs on a machine without a GPU (see ../shared/SOFTWARE-GPU.md).
// A machine with a real GPU (a /dev/dri render node) or an explicit VK_ICD_FILENAMES is left alone.
//   node scripts/gpu-env.mjs <bin> [args...]   runs bin (node_modules/.bin first) in that environment;
//   import { withSoftwareGpu } from './gpu-env.mjs'   for entry points that set up their own process.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const LAVAPIPE_ICD = '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json';

/** @param {Record<string, string | undefined>} env  @param {'dawn' | 'wgpu'} implementation */
export function withSoftwareGpu(env, implementation = 'dawn') {
  const out = { ...env };
  const hasRenderNode = existsSync('/dev/dri') && readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  if (!out.VK_ICD_FILENAMES && !hasRenderNode) {
    // Dawn (Node, Chromium) rejects Debian 12's lavapipe; wgpu (Deno) runs faster on it.
    const icd = implementation === 'wgpu' && existsSync(LAVAPIPE_ICD) ? LAVAPIPE_ICD : SWIFTSHADER_ICD;
    if (existsSync(icd)) out.VK_ICD_FILENAMES = icd;
  }
  out.XDG_RUNTIME_DIR ??= '/tmp';
  return out;
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const [bin, ...args] = process.argv.slice(2);
  if (!bin) {
    console.error('usage: node scripts/gpu-env.mjs <command> [args...]');
    process.exit(2);
  }
  const env = withSoftwareGpu(process.env, bin === 'deno' ? 'wgpu' : 'dawn');
  const local = join(root, 'node_modules', '.bin', bin);
  const r = spawnSync(existsSync(local) ? local : bin, args, { stdio: 'inherit', env });
  if (r.error) {
    console.error(`gpu-env: could not run ${bin}: ${r.error.message}`);
    process.exit(127);
  }
  process.exit(r.status ?? 1);
}
