/**
 * The SQL of the orders' hot paths, in one place: the services run it through SqlPool, and the
 * benchmark's raw-pool limit routes run the very same text, so the two cannot drift apart.
 */

/** The orders table's columns as the hot reads select them. */
export const ORDER_COLUMNS =
  'id, user_id, event_id, quantity, amount_cents, currency, status, hold_expires_at, request_key, payment_id,' +
  ' fence_token, paid_at, created_at, updated_at';

/** A user's orders, newest first, with the total in the same statement: $1 user, $2 limit, $3 offset. */
export const USER_ORDERS_SQL =
  `SELECT ${ORDER_COLUMNS}, count(*) OVER () AS total FROM orders WHERE user_id = $1` +
  ' ORDER BY created_at DESC, id ASC LIMIT $2 OFFSET $3';

/**
 * Expires lapsed holds and returns their seats, in one statement that cannot return seats twice;
 * answers the ids of the events it changed. With `oneEvent`, $1 is the event.
 */
export const expireHoldsSql = (oneEvent: boolean): string =>
  `WITH expired AS (
     UPDATE orders SET status = 'expired', updated_at = now()
      WHERE status = 'held' AND hold_expires_at <= now() ${oneEvent ? 'AND event_id = $1' : ''}
     RETURNING event_id, quantity
   ), returned AS (
     SELECT event_id, sum(quantity)::int AS seats FROM expired GROUP BY event_id
   ), updated AS (
     UPDATE events e SET seats_available = e.seats_available + r.seats, version = e.version + 1, updated_at = now()
       FROM returned r WHERE e.id = r.event_id
     RETURNING e.id
   )
   SELECT id FROM updated`;

/**
 * Takes seats and inserts the held order in one statement (atomic without BEGIN/COMMIT; a unique
 * violation on request_key undoes the seat change too): $1 event, $2 quantity, $3 user,
 * $4 hold expiry, $5 request key or null. No row: nothing was taken.
 */
export const HOLD_SQL = `WITH taken AS (
     UPDATE events SET seats_available = seats_available - $2, version = version + 1, updated_at = now()
      WHERE id = $1 AND status = 'published' AND seats_available >= $2
     RETURNING id, price_cents, currency
   )
   INSERT INTO orders (user_id, event_id, quantity, amount_cents, currency, status, hold_expires_at, request_key)
   SELECT $3::uuid, id, $2::int, price_cents * $2::int, currency, 'held', $4::timestamptz, $5::varchar FROM taken
   RETURNING ${ORDER_COLUMNS}`;
