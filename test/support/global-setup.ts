import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** The e2e suites spawn the built server, so they build it once first. */
export default function globalSetup(): void {
  if (process.env.E2E_SKIP_BUILD === 'true') return;
  execFileSync(process.execPath, [require.resolve('@nestjs/cli/bin/nest.js'), 'build'], {
    cwd: join(__dirname, '..', '..'),
    stdio: 'inherit',
  });
}
