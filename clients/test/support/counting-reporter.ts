/**
 * Prints one plain closing line, `clients: N passed, N failed[, N skipped]`, and
 * fails the run when no test ran at all (a run that tested nothing never passes).
 */

import type { Reporter, TestModule } from "vitest/node";

export default class CountingReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") passed++;
        else if (state === "failed") failed++;
        else skipped++;
      }
    }
    console.log(`\nclients: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
    if (passed + failed === 0) {
      console.error("clients: no test ran; failing the run");
      process.exitCode = 1;
    }
  }
}
