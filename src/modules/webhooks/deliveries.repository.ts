import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

export type DeliveryStatus = 'pending' | 'delivered' | 'dead';
export const DELIVERY_STATUSES: DeliveryStatus[] = ['pending', 'delivered', 'dead'];

/** The body of every attempt: `{ id, type, createdAt, data }`; `id` is also the Webhook-Id. */
export interface WebhookEnvelope {
  id: string;
  type: string;
  createdAt: string;
  data: Record<string, unknown>;
}

export interface DeliveryRow {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  payload: WebhookEnvelope;
  status: DeliveryStatus;
  attempts: number;
  replays: number;
  last_status: number | null;
  last_error: string | null;
  last_attempt_at: Date | null;
  next_attempt_at: Date | null;
  delivered_at: Date | null;
  created_at: Date;
}

/** A delivery with what an attempt needs of its endpoint. */
export interface DeliveryTarget extends DeliveryRow {
  url: string;
  secret: string;
  endpoint_deleted: boolean;
}

/** The job of a delivery: its id and its current run. */
export type DeliveryRef = Pick<DeliveryRow, 'id' | 'replays'>;

const ISO_UTC = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;
const COLUMNS = `d.id, d.endpoint_id, d.event_id, d.event_type, d.payload, d.status, d.attempts, d.replays, d.last_status,
  d.last_error, d.last_attempt_at, d.next_attempt_at, d.delivered_at, d.created_at`;

/** Every statement on `order_events` (the consuming side) and `webhook_deliveries`. */
@Injectable()
export class DeliveriesRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Publishes up to `limit` outbox rows in one statement: one delivery per active endpoint of the
   * event's organizer, and the rows marked published. Rows another instance is publishing are
   * skipped (SKIP LOCKED), so sweeps on several instances never publish a row twice.
   */
  async publish(limit: number): Promise<{ events: number; deliveries: DeliveryRef[] }> {
    const [result] = (await this.dataSource.query(
      `WITH claimed AS (
         SELECT id, type, organizer_id, payload, created_at FROM order_events
          WHERE published_at IS NULL ORDER BY created_at, id LIMIT $1
          FOR UPDATE SKIP LOCKED
       ), published AS (
         UPDATE order_events o SET published_at = now() FROM claimed c WHERE o.id = c.id RETURNING o.id
       ), created AS (
         INSERT INTO webhook_deliveries (endpoint_id, organizer_id, event_id, event_type, payload, next_attempt_at)
         SELECT e.id, e.organizer_id, c.id, c.type,
                jsonb_build_object('id', c.id, 'type', c.type,
                  'createdAt', to_char(c.created_at AT TIME ZONE 'UTC', ${ISO_UTC}), 'data', c.payload),
                now()
           FROM claimed c JOIN webhook_endpoints e ON e.organizer_id = c.organizer_id AND e.deleted_at IS NULL
         ON CONFLICT ON CONSTRAINT webhook_deliveries_once DO NOTHING
         RETURNING id, replays
       )
       SELECT (SELECT count(*)::int FROM published) AS events,
              coalesce((SELECT jsonb_agg(jsonb_build_object('id', id, 'replays', replays)) FROM created), '[]'::jsonb)
                AS deliveries`,
      [limit],
    )) as { events: number; deliveries: DeliveryRef[] }[];
    return result ?? { events: 0, deliveries: [] };
  }

  /** The job of this run exists now (or did); `next_attempt_at` only moves forward. */
  async markEnqueued(id: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE webhook_deliveries
          SET enqueued_at = now(), next_attempt_at = greatest(next_attempt_at, now()), updated_at = now()
        WHERE id = $1 AND status = 'pending'`,
      [id],
    );
  }

  /**
   * Pending deliveries whose job may not exist: never enqueued (the queue was down), or overdue
   * by `staleMs` (an in-process queue lost at a restart). Enqueueing them again is a no-op when
   * the job does exist.
   */
  async stranded(staleMs: number, limit: number): Promise<DeliveryRef[]> {
    return (await this.dataSource.query(
      `SELECT id, replays FROM webhook_deliveries
        WHERE status = 'pending'
          AND (enqueued_at IS NULL OR next_attempt_at < now() - $1 * interval '1 millisecond')
        ORDER BY next_attempt_at NULLS FIRST, id
        LIMIT $2`,
      [staleMs, limit],
    )) as DeliveryRef[];
  }

  async target(id: string): Promise<DeliveryTarget | undefined> {
    const [row] = (await this.dataSource.query(
      `SELECT ${COLUMNS}, e.url, e.secret, e.deleted_at IS NOT NULL AS endpoint_deleted
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
        WHERE d.id = $1`,
      [id],
    )) as DeliveryTarget[];
    return row;
  }

  /** Records an attempt of the current run (`replays` guards against a stale job writing). */
  async recordAttempt(
    ref: DeliveryRef,
    outcome: { delivered: boolean; final: boolean; status: number | null; error: string | null; nextInMs?: number },
  ): Promise<void> {
    const status = outcome.delivered ? 'delivered' : outcome.final ? 'dead' : 'pending';
    await this.dataSource.query(
      `UPDATE webhook_deliveries
          SET status = $3::varchar, attempts = attempts + 1, last_status = $4, last_error = $5, last_attempt_at = now(),
              next_attempt_at = CASE WHEN $3::varchar = 'pending' THEN now() + $6 * interval '1 millisecond' END,
              delivered_at = CASE WHEN $3::varchar = 'delivered' THEN now() END, updated_at = now()
        WHERE id = $1 AND replays = $2 AND status = 'pending'`,
      [ref.id, ref.replays, status, outcome.status, outcome.error?.slice(0, 500) ?? null, outcome.nextInMs ?? 0],
    );
  }

  /** Ends a pending delivery without an attempt (its endpoint was deleted, or its job ended unrecorded). */
  async markDead(ref: DeliveryRef, reason: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE webhook_deliveries SET status = 'dead', last_error = $3, next_attempt_at = NULL, updated_at = now()
        WHERE id = $1 AND replays = $2 AND status = 'pending'`,
      [ref.id, ref.replays, reason.slice(0, 500)],
    );
  }

  async list(
    organizerId: string,
    filter: { status?: DeliveryStatus; endpointId?: string; limit: number; offset: number },
  ): Promise<{ items: DeliveryRow[]; total: number }> {
    const where = `d.organizer_id = $1 AND ($2::varchar IS NULL OR d.status = $2) AND ($3::uuid IS NULL OR d.endpoint_id = $3)`;
    const params = [organizerId, filter.status ?? null, filter.endpointId ?? null];
    const [items, [count]] = await Promise.all([
      this.dataSource.query(
        `SELECT ${COLUMNS} FROM webhook_deliveries d WHERE ${where}
          ORDER BY d.created_at DESC, d.id LIMIT $4 OFFSET $5`,
        [...params, filter.limit, filter.offset],
      ) as Promise<DeliveryRow[]>,
      this.dataSource.query(
        `SELECT count(*)::int AS total FROM webhook_deliveries d WHERE ${where}`,
        params,
      ) as Promise<{ total: number }[]>,
    ]);
    return { items, total: count?.total ?? 0 };
  }

  async get(id: string, organizerId: string): Promise<(DeliveryRow & { endpoint_deleted: boolean }) | undefined> {
    const [row] = (await this.dataSource.query(
      `SELECT ${COLUMNS}, e.deleted_at IS NOT NULL AS endpoint_deleted
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
        WHERE d.id = $1 AND d.organizer_id = $2`,
      [id, organizerId],
    )) as (DeliveryRow & { endpoint_deleted: boolean })[];
    return row;
  }

  /**
   * Starts a new run of a dead delivery (same event id and payload, attempts from zero, a new
   * job id), if it is still dead and its endpoint still exists; undefined otherwise.
   */
  async replay(id: string, organizerId: string): Promise<DeliveryRow | undefined> {
    const [row] = (await this.dataSource.query(
      `WITH replayed AS (
         UPDATE webhook_deliveries d
            SET status = 'pending', attempts = 0, replays = d.replays + 1, next_attempt_at = now(),
                enqueued_at = NULL, delivered_at = NULL, updated_at = now()
           FROM webhook_endpoints e
          WHERE d.id = $1 AND d.organizer_id = $2 AND d.status = 'dead'
            AND e.id = d.endpoint_id AND e.deleted_at IS NULL
         RETURNING d.*
       ) SELECT ${COLUMNS} FROM replayed d`,
      [id, organizerId],
    )) as DeliveryRow[];
    return row;
  }
}
