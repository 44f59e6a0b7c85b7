import { CreateEvents1795435200000 } from './1795435200000-create-events';

/** Every migration, oldest first. The app and the migration CLI both read this list. */
export const migrations = [CreateEvents1795435200000];
