import { Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import type { CreateEventDto } from './dto/create-event.dto';
import type { ListEventsQuery } from './dto/list-events.query';
import type { UpdateEventDto } from './dto/update-event.dto';
import { EventEntity } from './event.entity';
import { SqlPool, toDate } from '../../platform/database';
import { EVENT_COLUMNS } from './events.sql';
import type { SessionUser } from '../../platform/session';
import { capacityBelowSold, eventNotFound, invalidDateRange, notEventOwner } from './events.errors';

@Injectable()
export class EventsService {
  constructor(
    @InjectRepository(EventEntity) private readonly events: Repository<EventEntity>,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly sql: SqlPool,
  ) {}

  /** Hot read: raw SQL with a typed mapper, and the total from a window function (one round trip). */
  async list(query: ListEventsQuery): Promise<{ items: EventEntity[]; total: number }> {
    if (query.from && query.to && query.from >= query.to) throw invalidDateRange();
    const values: unknown[] = [query.status];
    let where = 'status = $1';
    if (query.from) where += ` AND starts_at >= $${values.push(query.from)}`;
    if (query.to) where += ` AND starts_at < $${values.push(query.to)}`;
    const limit = values.push(query.limit);
    const offset = values.push(query.offset);
    const rows = await this.sql.query<EventRow & { total: string | number }>(
      `SELECT ${EVENT_COLUMNS}, count(*) OVER () AS total FROM events WHERE ${where}` +
        ` ORDER BY starts_at ASC, id ASC LIMIT $${limit} OFFSET $${offset}`,
      values,
    );
    if (rows.length === 0 && query.offset > 0) {
      // Past the end the window has no rows to count on: ask for the total alone.
      const [row] = await this.sql.query<{ total: string | number }>(
        `SELECT count(*) AS total FROM events WHERE ${where}`,
        values.slice(0, limit - 1),
      );
      return { items: [], total: Number(row?.total ?? 0) };
    }
    return { items: rows.map(toEvent), total: rows.length ? Number(rows[0]!.total) : 0 };
  }

  /** Hot read (uncached GET /events/:id): one raw parameterised SELECT, mapped without TypeORM. */
  async get(id: string): Promise<EventEntity> {
    const [row] = await this.sql.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = $1`, [id]);
    if (!row) throw eventNotFound(id);
    return toEvent(row);
  }

  create(dto: CreateEventDto, organizerId: string | null): Promise<EventEntity> {
    return this.events.save(
      this.events.create({ ...dto, status: dto.status ?? 'published', seatsAvailable: dto.capacity, organizerId }),
    );
  }

  /** Capacity changes move seatsAvailable by the same delta, under a row lock, never below what is taken. */
  update(id: string, dto: UpdateEventDto, actor: SessionUser): Promise<EventEntity> {
    return this.dataSource.transaction(async (manager) => {
      const event = await manager.findOne(EventEntity, { where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!event) throw eventNotFound(id);
      if (event.organizerId !== actor.id && !actor.roles.includes('admin')) throw notEventOwner();
      if (dto.capacity !== undefined) {
        const taken = event.capacity - event.seatsAvailable;
        if (dto.capacity < taken) throw capacityBelowSold(taken);
        event.seatsAvailable = dto.capacity - taken;
      }
      manager.merge(EventEntity, event, dto);
      return manager.save(event);
    });
  }
}

interface EventRow {
  id: string;
  title: string;
  venue: string;
  starts_at: Date | string;
  capacity: number;
  seats_available: number;
  price_cents: number;
  currency: string;
  organizer_id: string | null;
  status: EventEntity['status'];
  version: number;
  created_at: Date | string;
  updated_at: Date | string;
}

function toEvent(row: EventRow): EventEntity {
  const event = new EventEntity();
  event.id = row.id;
  event.title = row.title;
  event.venue = row.venue;
  event.startsAt = toDate(row.starts_at);
  event.capacity = Number(row.capacity);
  event.seatsAvailable = Number(row.seats_available);
  event.priceCents = Number(row.price_cents);
  event.currency = row.currency;
  event.organizerId = row.organizer_id;
  event.status = row.status;
  event.version = Number(row.version);
  event.createdAt = toDate(row.created_at);
  event.updatedAt = toDate(row.updated_at);
  return event;
}
