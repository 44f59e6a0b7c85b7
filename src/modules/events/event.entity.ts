import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn, VersionColumn } from 'typeorm';

export const EVENT_STATUSES = ['draft', 'published', 'cancelled'] as const;
export type EventStatus = (typeof EVENT_STATUSES)[number];

/** A ticketed event. Seat counts are guarded by CHECK constraints in the migration, not only here. */
@Entity({ name: 'events' })
export class EventEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'varchar', length: 200 })
  title!: string;

  @Column({ type: 'varchar', length: 200 })
  venue!: string;

  @Column({ name: 'starts_at', type: 'timestamptz' })
  startsAt!: Date;

  @Column({ type: 'integer' })
  capacity!: number;

  @Column({ name: 'seats_available', type: 'integer' })
  seatsAvailable!: number;

  @Column({ name: 'price_cents', type: 'integer' })
  priceCents!: number;

  @Column({ type: 'char', length: 3 })
  currency!: string;

  @Column({ name: 'organizer_id', type: 'uuid', nullable: true })
  organizerId!: string | null;

  @Column({ type: 'varchar', length: 16 })
  status!: EventStatus;

  /** Bumped on every write; the cache layer derives validators from it. */
  @VersionColumn()
  version!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
