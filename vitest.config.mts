import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts", "convex/**/*.test.ts"],
          environment: "node",
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
          pool: "forks",
        },
      },
      {
        test: {
          // npm run test:faults: every fault of the suite on the lab, one table at the end
          name: "faults",
          include: ["test/faults/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/faults/table.ts"],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          // two files at once, each on a lab of its own /24: the rows mostly wait (bakes, deadlines)
          maxWorkers: 2,
          pool: "forks",
        },
      },
    ],
  },
});
