#!/usr/bin/env node
// The `xtf` command. Node 20 cannot run TypeScript by itself, so tsx loads the sources;
// the software-GPU environment is set before Dawn starts.
import { register } from 'tsx/esm/api';
import { withSoftwareGpu } from '../scripts/gpu-env.mjs';

Object.assign(process.env, withSoftwareGpu(process.env));
register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
