import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateEvents1795435200000 implements MigrationInterface {
  name = 'CreateEvents1795435200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE events (
        id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        title           varchar(200) NOT NULL,
        venue           varchar(200) NOT NULL,
        starts_at       timestamptz NOT NULL,
        capacity        integer NOT NULL CHECK (capacity > 0),
        seats_available integer NOT NULL,
        price_cents     integer NOT NULL CHECK (price_cents >= 0),
        currency        char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        organizer_id    uuid NULL,
        status          varchar(16) NOT NULL DEFAULT 'published'
                        CHECK (status IN ('draft', 'published', 'cancelled')),
        version         integer NOT NULL DEFAULT 1,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        -- The database, not the application, is what finally prevents an oversell.
        CONSTRAINT events_seats_in_range CHECK (seats_available >= 0 AND seats_available <= capacity)
      )`);
    await queryRunner.query('CREATE INDEX events_status_starts_at_idx ON events (status, starts_at, id)');
    await queryRunner.query('CREATE INDEX events_organizer_idx ON events (organizer_id)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE events');
  }
}
