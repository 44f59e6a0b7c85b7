/** The event document both peer apps serve: the shape of an event of the real app. */
export const peerEvent = (id: string) => ({
  id,
  title: 'Peer event',
  venue: 'Hall',
  startsAt: new Date(Date.now() + 86_400_000).toISOString(),
  capacity: 100,
  seatsAvailable: 100,
  priceCents: 2500,
  currency: 'EUR',
  status: 'published',
});
