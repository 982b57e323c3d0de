import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: '.',
  build: { outDir: 'dist' },
  test: {
    include: ['test/**/*.test.ts'],
    // Kernels on a software GPU are CPU-bound and the machine has 2 cores: two workers at most.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
