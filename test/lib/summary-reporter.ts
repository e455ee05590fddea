import type { Reporter, TestModule } from 'vitest/node';

// Prints one plain closing line ("Tests: N passed, N failed, N skipped") that CI reads,
// and names every skipped test with its reason so that a skip is never silent.
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const skips: string[] = [];
    for (const mod of testModules) {
      for (const test of mod.children.allTests()) {
        const result = test.result();
        if (result.state === 'passed') passed++;
        else if (result.state === 'failed') failed++;
        else {
          skipped++;
          const note = result.state === 'skipped' ? result.note : undefined;
          skips.push(`  skipped: ${test.fullName}${note ? ` (${note})` : ''}`);
        }
      }
    }
    if (skips.length > 0) process.stdout.write(`\n${skips.join('\n')}\n`);
    process.stdout.write(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
