/** The reports domain's settings (from the environment, see AppModule). */
export interface ReportsSettings {
  /** How long a finished export stays downloadable. */
  retentionMs: number;
  /** Orders read per page while writing a CSV; progress is reported after each page. */
  pageSize: number;
  /** Pause between pages, so a long export yields the database to requests. */
  pagePauseMs: number;
}

export const REPORTS_SETTINGS = Symbol('REPORTS_SETTINGS');

export const EXPORTS_QUEUE = 'exports';

/** What an export job carries; the export's row holds the rest. */
export interface ExportJobData {
  exportId: string;
  eventId: string;
}

export interface ExportResult {
  exportId: string;
  rows: number;
  bytes: number;
  download: string;
}
