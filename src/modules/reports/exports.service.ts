import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { InjectJobQueue, type JobQueue, type JobView } from '../../platform/queue';
import type { SessionUser } from '../../platform/session';
import { EventsService } from '../events';
import { exportExpired, exportFailed, exportNotFound, exportNotReady, notEventOrganizer } from './reports.errors';
import { EXPORTS_QUEUE, REPORTS_SETTINGS, type ExportJobData, type ReportsSettings } from './reports.settings';

interface ExportRow {
  id: string;
  status: 'queued' | 'running' | 'completed' | 'failed';
  csv: string | null;
  event_id: string;
  expired: boolean;
}

/** An id for a request's export: random, or derived from its idempotency key so a retry maps to the same job. */
function exportIdFor(idempotencyKey: string | undefined): string {
  if (!idempotencyKey) return randomUUID();
  const hex = createHash('sha256').update(`export:${idempotencyKey}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Requests CSV exports of an event's orders and serves them to their owner. */
@Injectable()
export class ExportsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectJobQueue(EXPORTS_QUEUE) private readonly queue: JobQueue<ExportJobData>,
    @Inject(REPORTS_SETTINGS) private readonly settings: ReportsSettings,
    private readonly events: EventsService,
  ) {}

  /**
   * Records the export and enqueues its job (the job id is the export id). When the queue
   * cannot take it, the record goes and the request answers 503: nothing half-done remains.
   */
  async request(eventId: string, user: SessionUser, idempotencyKey?: string): Promise<JobView> {
    const event = await this.events.get(eventId);
    if (event.organizerId !== user.id && !user.roles.includes('admin')) throw notEventOrganizer();
    const id = exportIdFor(idempotencyKey);
    await this.dataSource.query(
      `INSERT INTO report_exports (id, event_id, owner_id, expires_at)
       VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
       ON CONFLICT (id) DO NOTHING`,
      [id, eventId, user.id, this.settings.retentionMs],
    );
    try {
      return await this.queue.add('csv', { exportId: id, eventId }, { jobId: id, owner: user.id });
    } catch (error) {
      await this.dataSource.query(`DELETE FROM report_exports WHERE id = $1 AND status = 'queued'`, [id]);
      throw error;
    } finally {
      // Expired exports go with new ones; their CSVs are the bulk of the table.
      await this.dataSource.query('DELETE FROM report_exports WHERE expires_at < now()');
    }
  }

  /** The CSV of a completed export, for its owner only. */
  async download(id: string, user: SessionUser): Promise<{ csv: string; eventId: string }> {
    const [row] = (await this.dataSource.query(
      `SELECT id, status, csv, event_id, expires_at < now() AS expired
         FROM report_exports WHERE id = $1 AND owner_id = $2`,
      [id, user.id],
    )) as ExportRow[];
    if (!row) throw exportNotFound();
    if (row.expired) throw exportExpired();
    if (row.status === 'failed') throw exportFailed();
    if (row.status !== 'completed' || row.csv === null) throw exportNotReady(`/jobs/${id}`);
    return { csv: row.csv, eventId: row.event_id };
  }
}
