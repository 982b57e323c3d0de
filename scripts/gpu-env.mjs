// Runs a command with the environment WebGPU needs on a machine without a GPU
// (see ../shared/SOFTWARE-GPU.md). A machine with a real GPU (a /dev/dri render node) or an
// explicit VK_ICD_FILENAMES is left alone.
//   node scripts/gpu-env.mjs <bin> [args...]   (bin is looked up in node_modules/.bin first)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [bin, ...args] = process.argv.slice(2);
if (!bin) {
  console.error('usage: node scripts/gpu-env.mjs <command> [args...]');
  process.exit(2);
}
const env = { ...process.env };
const hasRenderNode = existsSync('/dev/dri') && readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
if (!env.VK_ICD_FILENAMES && !hasRenderNode) {
  // Dawn (Node, Chromium) rejects Debian 12's lavapipe; wgpu (Deno) is faster on it.
  const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
  const lavapipe = '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json';
  const icd = bin === 'deno' && existsSync(lavapipe) ? lavapipe : swiftshader;
  if (existsSync(icd)) env.VK_ICD_FILENAMES = icd;
}
env.XDG_RUNTIME_DIR ??= '/tmp';
const local = join(root, 'node_modules', '.bin', bin);
const r = spawnSync(existsSync(local) ? local : bin, args, { stdio: 'inherit', env, cwd: process.cwd() });
if (r.error) {
  console.error(`gpu-env: could not run ${bin}: ${r.error.message}`);
  process.exit(127);
}
process.exit(r.status ?? 1);
