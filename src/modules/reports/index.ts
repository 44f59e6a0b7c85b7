export { ReportsModule } from './reports.module';
export { EXPORTS_QUEUE, type ExportJobData, type ExportResult } from './reports.settings';
