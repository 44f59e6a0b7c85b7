import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { DataSource } from 'typeorm';
import { migrations } from '../migrations';
import { loadConfig } from './config';
import { EventEntity } from './modules/events';
import { UserEntity } from './modules/identity';
import { buildDataSourceOptions } from './platform/database';

// Used by the TypeORM CLI (npm run migration:*): the same database the app would open.
if (existsSync('.env')) process.loadEnvFile('.env');
const config = loadConfig();

export default new DataSource({
  ...buildDataSourceOptions({ url: config.DATABASE_URL, pgliteDataDir: config.PGLITE_DATA_DIR, migrations }),
  entities: [EventEntity, UserEntity],
});
