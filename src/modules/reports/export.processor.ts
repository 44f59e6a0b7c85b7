import { setTimeout as sleep } from 'node:timers/promises';
import { Inject } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { isLastAttempt, JobProcessor, UnrecoverableError, WorkerHost, type QueueJob } from '../../platform/queue';
import { csvLine } from './csv';
import {
  EXPORTS_QUEUE,
  REPORTS_SETTINGS,
  type ExportJobData,
  type ExportResult,
  type ReportsSettings,
} from './reports.settings';

const HEADER = ['order_id', 'status', 'quantity', 'amount_cents', 'currency', 'buyer_email', 'created_at', 'paid_at'];

interface OrderRow {
  id: string;
  status: string;
  quantity: number;
  amount_cents: number;
  currency: string;
  email: string;
  created_at: string;
  paid_at: string | null;
}

/**
 * Writes the CSV of an event's orders, a page at a time, reporting progress after each page.
 * A retry after a crash starts over (the CSV is written at the end, in one statement); a retry
 * of a finished export returns what was written.
 */
@JobProcessor(EXPORTS_QUEUE, { concurrency: 2 })
export class ExportProcessor extends WorkerHost {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(REPORTS_SETTINGS) private readonly settings: ReportsSettings,
  ) {
    super();
  }

  async process(job: QueueJob<ExportJobData>, _token?: string, signal?: AbortSignal): Promise<ExportResult> {
    try {
      return await this.write(job, signal);
    } catch (error) {
      // Cut off at shutdown: the job is recovered as stalled and runs again; it has not failed.
      if (signal?.aborted) throw error;
      // The last attempt failed: say so on the export, so a download answers "failed", not "not ready".
      const last = error instanceof UnrecoverableError || isLastAttempt(job);
      if (last) {
        await this.dataSource.query(`UPDATE report_exports SET status = 'failed' WHERE id = $1`, [job.data.exportId]);
      }
      throw error;
    }
  }

  private async write(job: QueueJob<ExportJobData>, signal?: AbortSignal): Promise<ExportResult> {
    const { exportId, eventId } = job.data;
    const download = `/exports/${exportId}/download`;
    const [current] = (await this.dataSource.query(
      'SELECT status, row_count, octet_length(csv) AS bytes FROM report_exports WHERE id = $1',
      [exportId],
    )) as { status: string; row_count: number | null; bytes: number | null }[];
    // The request that enqueued it answered 503 and withdrew it: there is nothing to write.
    if (!current) throw new UnrecoverableError(`export ${exportId} was withdrawn`);
    if (current.status === 'completed') {
      return { exportId, rows: current.row_count ?? 0, bytes: Number(current.bytes ?? 0), download };
    }
    await this.dataSource.query(`UPDATE report_exports SET status = 'running' WHERE id = $1`, [exportId]);

    const [{ total }] = (await this.dataSource.query('SELECT count(*)::int AS total FROM orders WHERE event_id = $1', [
      eventId,
    ])) as { total: number }[];
    let csv = csvLine(HEADER);
    let rows = 0;
    let cursor: [string, string] | null = null;
    await job.updateProgress({ rows, total, percent: total ? 0 : 100 });
    for (;;) {
      signal?.throwIfAborted();
      // Keyset pagination on (created_at, id); the timestamp travels as text to keep its microseconds.
      const page = (await this.dataSource.query(
        `SELECT o.id, o.status, o.quantity, o.amount_cents, o.currency, u.email,
                o.created_at::text AS created_at, o.paid_at::text AS paid_at
           FROM orders o JOIN users u ON u.id = o.user_id
          WHERE o.event_id = $1 AND ($2::timestamptz IS NULL OR (o.created_at, o.id) > ($2::timestamptz, $3::uuid))
          ORDER BY o.created_at, o.id
          LIMIT $4`,
        [eventId, cursor?.[0] ?? null, cursor?.[1] ?? null, this.settings.pageSize],
      )) as OrderRow[];
      for (const order of page) {
        csv += csvLine([
          order.id,
          order.status,
          order.quantity,
          order.amount_cents,
          order.currency,
          order.email,
          new Date(order.created_at).toISOString(),
          order.paid_at && new Date(order.paid_at).toISOString(),
        ]);
      }
      rows += page.length;
      if (page.length) {
        const last = page[page.length - 1];
        cursor = [last.created_at, last.id];
        await job.updateProgress({
          rows,
          total: Math.max(total, rows),
          percent: Math.min(100, Math.round((rows / Math.max(total, 1)) * 100)),
        });
      }
      if (page.length < this.settings.pageSize) break;
      if (this.settings.pagePauseMs) await sleep(this.settings.pagePauseMs);
    }

    await this.dataSource.query(
      `UPDATE report_exports SET status = 'completed', csv = $2, row_count = $3, completed_at = now() WHERE id = $1`,
      [exportId, csv, rows],
    );
    return { exportId, rows, bytes: Buffer.byteLength(csv), download };
  }
}
