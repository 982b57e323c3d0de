// What a fresh Debian 12 machine with only Node needs before `npm start` or `npm test`, installed once:
//   - the Vulkan loader, SwiftShader (inside Debian's chromium) for Dawn in Node and Chromium, lavapipe
//     (mesa-vulkan-drivers) for Deno's wgpu — see ../shared/SOFTWARE-GPU.md;
//   - lavapipe-for-dawn (native/lavapipe-for-dawn.c, compiled with the system's C compiler), the driver Node's
//     Dawn runs on: without a C compiler Node falls back to SwiftShader, ~2.6x slower (docs/speed.md);
//   - the npm packages (npm ci), when node_modules is missing or older than package-lock.json.
// As root it installs the apt packages itself; otherwise it prints the one command that does and stops.
// The one list of system packages: .ci/run calls this script too.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAVAPIPE_FOR_DAWN, LAVAPIPE_LIBRARY } from './gpu-env.mjs';

export const APT_PACKAGES = ['libvulkan1', 'chromium', 'mesa-vulkan-drivers'];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args, env = process.env) => spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env });
const installed = (pkg) => spawnSync('dpkg', ['-s', pkg], { stdio: 'ignore' }).status === 0;

function aptStep() {
  if (spawnSync('dpkg', ['--version'], { stdio: 'ignore' }).status !== 0) {
    console.error('setup: not a Debian-family system (no dpkg): install a Vulkan loader and a software Vulkan driver yourself (see ../shared/SOFTWARE-GPU.md)');
    return true;
  }
  const missing = APT_PACKAGES.filter((p) => !installed(p));
  if (missing.length === 0) return true;
  const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) {
    console.error(`setup: missing system packages ${missing.join(', ')}; install them as root, then run this again:\n  sudo sh -c '${command}'`);
    return false;
  }
  console.error(`setup: installing ${missing.join(', ')} (apt)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  return run('apt-get', ['update', '-qq'], env).status === 0 && run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], env).status === 0;
}

function driverStep() {
  const { source, library, icd } = LAVAPIPE_FOR_DAWN;
  if (!existsSync(LAVAPIPE_LIBRARY)) return true; // not Debian's layout: gpu-env keeps SwiftShader
  if (existsSync(library) && existsSync(icd) && statSync(library).mtimeMs >= statSync(source).mtimeMs) return true;
  mkdirSync(dirname(library), { recursive: true });
  // The first compiler there is; `-x c` lets a g++ alone build it as C.
  const compilers = [process.env.CC, 'cc', 'gcc', 'g++'].filter(Boolean);
  const built = compilers.find((cc) => spawnSync(cc, ['-x', 'c', '-O2', '-shared', '-fPIC', '-fvisibility=hidden', '-o', library, source, '-ldl'], { stdio: 'inherit' }).status === 0);
  if (!built) {
    console.error(`setup: could not build ${library} (tried ${compilers.join(', ')}); Node's WebGPU falls back to SwiftShader, ~2.6x slower. Install a C compiler (apt-get install gcc) for lavapipe.`);
    return true;
  }
  // library_path relative to the manifest: the loader resolves it from the manifest's folder.
  writeFileSync(icd, JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: './libvk_lavapipe_for_dawn.so', api_version: '1.1.230' } }, null, 2) + '\n');
  console.error(`setup: built lavapipe-for-dawn (${library}): Node's WebGPU runs on lavapipe`);
  return true;
}

function npmStep() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return true;
  console.error('setup: installing the npm packages (npm ci)');
  return run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['ci', '--no-audit', '--no-fund']).status === 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (!aptStep() || !driverStep() || !npmStep()) process.exit(1);
}
