import { PageQuery } from '../../../platform/http';

/** GET /orders: a page of the caller's orders. */
export class ListOrdersQuery extends PageQuery {}
