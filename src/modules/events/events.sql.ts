/** The events table's columns as the hot reads select them (the services and the bench's limit routes). */
export const EVENT_COLUMNS =
  'id, title, venue, starts_at, capacity, seats_available, price_cents, currency, organizer_id, status, version, created_at, updated_at';
