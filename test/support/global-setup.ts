import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ensureDatabase } from './database';

/**
 * The e2e suites spawn the built server, so they build it once first; the multi-instance suites
 * make their databases on the PostgreSQL server, whose `test` database is created when missing.
 */
export default async function globalSetup(): Promise<void> {
  await ensureDatabase();
  if (process.env.E2E_SKIP_BUILD === 'true') return;
  execFileSync(process.execPath, [require.resolve('@nestjs/cli/bin/nest.js'), 'build'], {
    cwd: join(__dirname, '..', '..'),
    stdio: 'inherit',
  });
}
