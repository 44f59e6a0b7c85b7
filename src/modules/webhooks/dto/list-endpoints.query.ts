import { PageQuery } from '../../../platform/http';

/** GET /webhooks/endpoints: the caller's active endpoints, newest first. */
export class ListEndpointsQuery extends PageQuery {}
