import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateUsers1795438800000 implements MigrationInterface {
  name = 'CreateUsers1795438800000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE users (
        id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        email         varchar(254) NOT NULL CHECK (email = lower(email)),
        password_hash text NOT NULL,
        roles         text[] NOT NULL DEFAULT '{customer}'
                      CHECK (roles <@ ARRAY['customer', 'organizer', 'admin']::text[] AND cardinality(roles) > 0),
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query('CREATE UNIQUE INDEX users_email_idx ON users (email)');
    await queryRunner.query(
      'ALTER TABLE events ADD CONSTRAINT events_organizer_fk FOREIGN KEY (organizer_id) REFERENCES users (id)',
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE events DROP CONSTRAINT events_organizer_fk');
    await queryRunner.query('DROP TABLE users');
  }
}
