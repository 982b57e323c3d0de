// Types of scripts/gpu-env.mjs for the TypeScript that imports it (the benchmarks).
export declare const SWIFTSHADER_ICD: string;
export declare const LAVAPIPE_LIBRARY: string;
export declare const LAVAPIPE_FOR_DAWN: { source: string; library: string; icd: string };
export declare function withSoftwareGpu(env: Record<string, string | undefined>, implementation?: 'dawn' | 'wgpu' | 'chromium'): Record<string, string | undefined>;
