// Reads Jest's --json reports and fails when anything was skipped, left todo, or did not run.
import { readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
let problems = 0;
for (const file of process.argv.slice(2)) {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  const skipped = report.numPendingTests + report.numTodoTests;
  const skippedSuites = report.numPendingTestSuites;
  if (skipped || skippedSuites || report.numTotalTests === 0) {
    problems++;
    console.error(`${file}: ${skipped} skipped tests, ${skippedSuites} skipped suites, ${report.numTotalTests} total`);
    for (const suite of report.testResults) {
      for (const test of suite.assertionResults) {
        if (test.status !== 'passed' && test.status !== 'failed') console.error(`  ${test.status}: ${test.fullName}`);
      }
    }
  }
  console.log(`${file}: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed || problems ? 1 : 0);
