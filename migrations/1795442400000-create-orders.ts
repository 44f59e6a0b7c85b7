import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateOrders1795442400000 implements MigrationInterface {
  name = 'CreateOrders1795442400000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE orders (
        id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id         uuid NOT NULL REFERENCES users (id),
        event_id        uuid NOT NULL REFERENCES events (id),
        quantity        integer NOT NULL CHECK (quantity BETWEEN 1 AND 10),
        amount_cents    integer NOT NULL CHECK (amount_cents >= 0),
        currency        char(3) NOT NULL,
        status          varchar(16) NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'paid', 'expired')),
        hold_expires_at timestamptz NOT NULL,
        -- The scoped idempotency key of the reservation: a retry whose idempotency record was
        -- lost (Redis restarted empty) finds its order here instead of taking seats again.
        request_key     varchar(64) NULL UNIQUE,
        payment_id      varchar(64) NULL,
        -- The fencing token of the last lock holder that wrote the order; a stale holder's
        -- token is smaller and its write matches no row.
        fence_token     bigint NOT NULL DEFAULT 0,
        paid_at         timestamptz NULL,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT orders_paid_has_payment CHECK (status <> 'paid' OR payment_id IS NOT NULL)
      )`);
    await queryRunner.query('CREATE INDEX orders_user_created_idx ON orders (user_id, created_at DESC, id)');
    await queryRunner.query(`CREATE INDEX orders_held_expiry_idx ON orders (hold_expires_at) WHERE status = 'held'`);
    // The fake payment provider's ledger (the real provider keeps its own): one charge per order,
    // whatever the number of attempts, the way a provider honours its idempotency key.
    await queryRunner.query(`
      CREATE TABLE fake_provider_charges (
        id           varchar(64) PRIMARY KEY,
        order_id     uuid NOT NULL UNIQUE,
        amount_cents integer NOT NULL,
        currency     char(3) NOT NULL,
        refunded     boolean NOT NULL DEFAULT false,
        created_at   timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE fake_provider_charges');
    await queryRunner.query('DROP TABLE orders');
  }
}
