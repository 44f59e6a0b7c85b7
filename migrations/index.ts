import { CreateEvents1795435200000 } from './1795435200000-create-events';
import { CreateUsers1795438800000 } from './1795438800000-create-users';
import { CreateOrders1795442400000 } from './1795442400000-create-orders';
import { CreateReportExports1795453200000 } from './1795453200000-create-report-exports';
import { CreateWebhooks1795456800000 } from './1795456800000-create-webhooks';

/** Every migration, oldest first. The app and the migration CLI both read this list. */
export const migrations = [
  CreateEvents1795435200000,
  CreateUsers1795438800000,
  CreateOrders1795442400000,
  CreateReportExports1795453200000,
  CreateWebhooks1795456800000,
];
