// Kernel parameters from uniform or read-only storage buffers (src/gpu/params-binding.ts): the choice by
// adapter, the source rewrite, and the same results from both bindings on the device at hand.
import { describe, expect, it } from 'vitest';
import { paramsBindingFor, withParamsBinding } from '../../src/gpu/params-binding.ts';
import { PipelineCache } from '../../src/gpu/pipelines.ts';
import { wgsl } from '../../src/shaders/wgsl.generated.ts';
import { gpu } from '../helpers/gpu.ts';

const adapter = (device: string, description = '') => ({ vendor: 'x', architecture: '', device, description });

describe('parameter binding', () => {
  it('storage on lavapipe / llvmpipe, uniform elsewhere', () => {
    expect(paramsBindingFor(adapter('llvmpipe-llvm-15-0-6-256-bits-', 'llvmpipe: Mesa 22.3.6')).binding).toBe('storage');
    expect(paramsBindingFor(adapter('swiftshader-device-subzero-')).binding).toBe('uniform');
    expect(paramsBindingFor(adapter('NVIDIA H100 80GB HBM3')).binding).toBe('uniform');
  });

  it('rewrites every shader\'s uniform declarations, and nothing else', () => {
    for (const [name, code] of Object.entries(wgsl)) {
      const rewritten = withParamsBinding(code, 'storage');
      expect(rewritten, name).not.toMatch(/var<uniform>/);
      expect(rewritten.replace(/var<storage, read> (\w+):/g, '').length, name).toBeLessThanOrEqual(code.length);
      expect(withParamsBinding(code, 'uniform')).toBe(code);
    }
  });

  it('a kernel gives the same result with its parameters in either binding', async () => {
    const rt = await gpu();
    const results: number[][] = [];
    for (const binding of ['uniform', 'storage'] as const) {
      // A cache of our own, so that this device compiles the shader both ways.
      const cache = new PipelineCache(rt.device, binding);
      const pipeline = cache.get('elementwise', wgsl.elementwise, 'axpy', {});
      const usage = (binding === 'storage' ? GPUBufferUsage.STORAGE : GPUBufferUsage.UNIFORM) | GPUBufferUsage.COPY_DST;
      const params = rt.device.createBuffer({ size: 16, usage });
      const bytes = new DataView(new ArrayBuffer(16)); // elementwise.wgsl's Params: n, row_groups, alpha, cols
      bytes.setUint32(0, 3, true);
      bytes.setUint32(4, 1, true);
      bytes.setFloat32(8, 2.5, true);
      rt.device.queue.writeBuffer(params, 0, bytes.buffer);
      const a = rt.upload(new Float32Array([1, 2, 3]), [3]);
      const acc = rt.upload(new Float32Array([10, 20, 30]), [3]);
      const group = rt.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [params, a.buffer, acc.buffer].map((buffer, i) => ({ binding: i, resource: { buffer } })) });
      const enc = rt.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(1);
      pass.end();
      rt.device.queue.submit([enc.finish()]);
      results.push(Array.from((await acc.read()) as Float32Array));
      for (const t of [a, acc]) t.release();
      params.destroy();
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[0]).toEqual([12.5, 25, 37.5]);
  });
});
