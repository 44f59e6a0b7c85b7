import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateReportExports1795453200000 implements MigrationInterface {
  name = 'CreateReportExports1795453200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // An export's record and, once done, its CSV: kept in the database so that any instance can
    // serve the download, whichever worker wrote it. The id is the export job's id.
    await queryRunner.query(`
      CREATE TABLE report_exports (
        id           varchar(64) PRIMARY KEY,
        event_id     uuid NOT NULL REFERENCES events (id),
        owner_id     uuid NOT NULL REFERENCES users (id),
        status       varchar(16) NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'completed', 'failed')),
        row_count    integer NULL,
        csv          text NULL,
        created_at   timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz NULL,
        expires_at   timestamptz NOT NULL
      )`);
    await queryRunner.query('CREATE INDEX report_exports_expires_idx ON report_exports (expires_at)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE report_exports');
  }
}
