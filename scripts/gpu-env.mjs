// The environment WebGPU needs on a machine without a GPU (see ../shared/SOFTWARE-GPU.md).
// A machine with a real GPU (a /dev/dri render node) or an explicit VK_ICD_FILENAMES is left alone.
// Which CPU Vulkan driver: Dawn in Node gets lavapipe through native/lavapipe-for-dawn.c (built by
// scripts/setup.mjs; LLVM-compiled, 8 lanes on AVX2: ~2.6x SwiftShader's speed here, docs/speed.md),
// else SwiftShader; Deno's wgpu gets lavapipe itself; Chromium keeps SwiftShader (its WebGL2 runs on it).
//   node scripts/gpu-env.mjs [--chromium] <bin> [args...]   runs bin (node_modules/.bin first) in that environment;
//   import { withSoftwareGpu } from './gpu-env.mjs'   for entry points that set up their own process.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const LAVAPIPE_ICD = '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json';
export const LAVAPIPE_LIBRARY = '/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so';
/** Where scripts/setup.mjs builds lavapipe-for-dawn: the driver library and its ICD manifest. */
export const LAVAPIPE_FOR_DAWN = {
  source: join(root, 'native', 'lavapipe-for-dawn.c'),
  library: join(root, 'build', 'vulkan', 'libvk_lavapipe_for_dawn.so'),
  icd: join(root, 'build', 'vulkan', 'lavapipe_for_dawn_icd.json'),
};

/** @param {Record<string, string | undefined>} env  @param {'dawn' | 'wgpu' | 'chromium'} implementation */
export function withSoftwareGpu(env, implementation = 'dawn') {
  const out = { ...env };
  const hasRenderNode = existsSync('/dev/dri') && readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  if (!out.VK_ICD_FILENAMES && !hasRenderNode) {
    // Dawn rejects Debian 12's lavapipe as it is (it does not report shader*ArrayDynamicIndexing).
    const lavapipeForDawn = existsSync(LAVAPIPE_FOR_DAWN.icd) && existsSync(LAVAPIPE_LIBRARY) ? LAVAPIPE_FOR_DAWN.icd : SWIFTSHADER_ICD;
    const icd = implementation === 'wgpu' && existsSync(LAVAPIPE_ICD) ? LAVAPIPE_ICD : implementation === 'dawn' ? lavapipeForDawn : SWIFTSHADER_ICD;
    if (existsSync(icd)) out.VK_ICD_FILENAMES = icd;
  }
  out.XDG_RUNTIME_DIR ??= '/tmp';
  return out;
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const argv = process.argv.slice(2);
  const chromium = argv[0] === '--chromium';
  const [bin, ...args] = chromium ? argv.slice(1) : argv;
  if (!bin) {
    console.error('usage: node scripts/gpu-env.mjs [--chromium] <command> [args...]');
    process.exit(2);
  }
  const env = withSoftwareGpu(process.env, chromium ? 'chromium' : bin === 'deno' ? 'wgpu' : 'dawn');
  const local = join(root, 'node_modules', '.bin', bin);
  const r = spawnSync(existsSync(local) ? local : bin, args, { stdio: 'inherit', env });
  if (r.error) {
    console.error(`gpu-env: could not run ${bin}: ${r.error.message}`);
    process.exit(127);
  }
  process.exit(r.status ?? 1);
}
