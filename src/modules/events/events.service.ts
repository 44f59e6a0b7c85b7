import { Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import type { CreateEventDto } from './dto/create-event.dto';
import type { ListEventsQuery } from './dto/list-events.query';
import type { UpdateEventDto } from './dto/update-event.dto';
import { EventEntity } from './event.entity';
import type { SessionUser } from '../../platform/session';
import { capacityBelowSold, eventNotFound, invalidDateRange, notEventOwner } from './events.errors';

@Injectable()
export class EventsService {
  constructor(
    @InjectRepository(EventEntity) private readonly events: Repository<EventEntity>,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  async list(query: ListEventsQuery): Promise<{ items: EventEntity[]; total: number }> {
    if (query.from && query.to && query.from >= query.to) throw invalidDateRange();
    const qb = this.events
      .createQueryBuilder('e')
      .where('e.status = :status', { status: query.status })
      .orderBy('e.startsAt', 'ASC')
      .addOrderBy('e.id', 'ASC')
      .take(query.limit)
      .skip(query.offset);
    if (query.from) qb.andWhere('e.startsAt >= :from', { from: query.from });
    if (query.to) qb.andWhere('e.startsAt < :to', { to: query.to });
    const [items, total] = await qb.getManyAndCount();
    return { items, total };
  }

  async get(id: string): Promise<EventEntity> {
    const event = await this.events.findOneBy({ id });
    if (!event) throw eventNotFound(id);
    return event;
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
