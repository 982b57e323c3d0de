export { Runtime, type RuntimeOptions, type Dispatch } from './runtime.ts';
export { Tensor, numel, DTYPE_BYTES, type DType, type HostArray } from './tensor.ts';
export { Uniforms } from './uniforms.ts';
export { BufferPool, sizeClass, type MemoryStats } from './pool.ts';
export { PipelineCache } from './pipelines.ts';
export { acquireDevice, detectHostRuntime, type AdapterReport, type HostRuntime, type DeviceOptions } from './device.ts';
export * from './errors.ts';
