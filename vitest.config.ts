import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Real GStreamer pipelines on a 2-core machine: one test file at a time keeps timing honest.
    fileParallelism: false,
    reporters: ['default'],
  },
});
