import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
} from '@nestjs/swagger';
import { Cached, InvalidatesCache } from '../../platform/cache';
import { CurrentUser, Public, Roles, type SessionUser } from '../../platform/session';
import { CreateEventDto } from './dto/create-event.dto';
import { EventDto, EventPageDto } from './dto/event.dto';
import { ListEventsQuery } from './dto/list-events.query';
import { UpdateEventDto } from './dto/update-event.dto';
import { eventNotFound } from './events.errors';
import { EventsService } from './events.service';

/** Cache tags: every list page, and one event (filled from the `id` route parameter). */
export const EVENTS_TAG = 'events';
export const EVENT_TAG = 'event:{id}';
/** After its fresh time (CACHE_DEFAULT_TTL_MS) a cached page is served stale this long while it is refreshed. */
const GRACE_MS = 30_000;

const EventId = () => Param('id', new ParseUUIDPipe({ exceptionFactory: () => eventNotFound() }));

interface HeaderReply {
  header(name: string, value: string): unknown;
}

@ApiTags('events')
@Controller('events')
export class EventsController {
  constructor(private readonly events: EventsService) {}

  @Public()
  @Get()
  @Cached({ tags: [EVENTS_TAG], staleWhileRevalidate: GRACE_MS })
  @ApiOkResponse({ type: EventPageDto })
  async list(@Query() query: ListEventsQuery): Promise<EventPageDto> {
    const { items, total } = await this.events.list(query);
    return { items: items.map(EventDto.from), total, limit: query.limit, offset: query.offset };
  }

  @Public()
  @Get(':id')
  @Cached({ tags: [EVENT_TAG], staleWhileRevalidate: GRACE_MS })
  @ApiOkResponse({ type: EventDto })
  @ApiNotFoundResponse({ description: 'No such event (problem+json)' })
  async get(@EventId() id: string): Promise<EventDto> {
    return EventDto.from(await this.events.get(id));
  }

  /** Organizers (and admins) create events; the creator becomes the event's organizer. */
  @Roles('organizer', 'admin')
  @ApiBearerAuth()
  @Post()
  @HttpCode(201)
  @InvalidatesCache({ tags: [EVENTS_TAG] })
  @ApiCreatedResponse({ type: EventDto })
  async create(
    @Body() dto: CreateEventDto,
    @CurrentUser() user: SessionUser,
    @Res({ passthrough: true }) reply: HeaderReply,
  ): Promise<EventDto> {
    const event = await this.events.create(dto, user.id);
    reply.header('Location', `/events/${event.id}`);
    return EventDto.from(event);
  }

  /** Only the event's own organizer (or an admin) edits it. */
  @Roles('organizer', 'admin')
  @ApiBearerAuth()
  @Patch(':id')
  @InvalidatesCache({ tags: [EVENTS_TAG, EVENT_TAG] })
  @ApiOkResponse({ type: EventDto })
  @ApiNotFoundResponse({ description: 'No such event (problem+json)' })
  @ApiConflictResponse({ description: 'capacity-below-sold: more seats are sold or held than the new capacity' })
  async update(
    @EventId() id: string,
    @Body() dto: UpdateEventDto,
    @CurrentUser() user: SessionUser,
  ): Promise<EventDto> {
    return EventDto.from(await this.events.update(id, dto, user));
  }
}
