import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateWebhooks1795456800000 implements MigrationInterface {
  name = 'CreateWebhooks1795456800000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // The orders outbox: written by the statement that marks an order paid, so no `order.paid`
    // exists without its row and the other way round. `published_at` is set once the webhook
    // dispatcher has turned the row into deliveries.
    await queryRunner.query(`
      CREATE TABLE order_events (
        id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        type         varchar(64) NOT NULL,
        order_id     uuid NOT NULL REFERENCES orders (id),
        organizer_id uuid NULL REFERENCES users (id),
        payload      jsonb NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz NULL
      )`);
    await queryRunner.query(
      'CREATE INDEX order_events_unpublished_idx ON order_events (created_at, id) WHERE published_at IS NULL',
    );
    await queryRunner.query('CREATE INDEX order_events_order_idx ON order_events (order_id)');

    // An organizer's destinations. Deleting one keeps the row (deleted_at) for its deliveries' history.
    await queryRunner.query(`
      CREATE TABLE webhook_endpoints (
        id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organizer_id uuid NOT NULL REFERENCES users (id),
        url          varchar(2048) NOT NULL,
        description  varchar(200) NULL,
        -- The signing secret; HMAC needs it in clear, so it is shown once and never listed.
        secret       varchar(100) NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now(),
        deleted_at   timestamptz NULL
      )`);
    await queryRunner.query(
      'CREATE INDEX webhook_endpoints_organizer_idx ON webhook_endpoints (organizer_id, created_at) WHERE deleted_at IS NULL',
    );

    // One event to one endpoint. The queue job that sends it has the delivery's id (or
    // `<id>-r<replays>` after a replay), so enqueueing it twice adds nothing.
    await queryRunner.query(`
      CREATE TABLE webhook_deliveries (
        id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints (id),
        organizer_id    uuid NOT NULL REFERENCES users (id),
        -- Also the Webhook-Id header and the body's id: the same on every attempt and replay.
        event_id        uuid NOT NULL REFERENCES order_events (id),
        event_type      varchar(64) NOT NULL,
        payload         jsonb NOT NULL,
        status          varchar(16) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts        integer NOT NULL DEFAULT 0,
        replays         integer NOT NULL DEFAULT 0,
        last_status     integer NULL,
        last_error      varchar(500) NULL,
        last_attempt_at timestamptz NULL,
        -- The latest time the next attempt is due; past it by far, the sweep enqueues the job again.
        next_attempt_at timestamptz NULL,
        -- NULL while no job is known to exist (the queue was down): the sweep enqueues it.
        enqueued_at     timestamptz NULL,
        delivered_at    timestamptz NULL,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT webhook_deliveries_once UNIQUE (endpoint_id, event_id)
      )`);
    await queryRunner.query(
      'CREATE INDEX webhook_deliveries_organizer_idx ON webhook_deliveries (organizer_id, status, created_at DESC, id)',
    );
    await queryRunner.query(
      `CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE webhook_deliveries');
    await queryRunner.query('DROP TABLE webhook_endpoints');
    await queryRunner.query('DROP TABLE order_events');
  }
}
