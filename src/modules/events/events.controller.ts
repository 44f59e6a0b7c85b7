import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { CurrentUser, Public, Roles, type SessionUser } from '../../platform/session';
import { CreateEventDto } from './dto/create-event.dto';
import { EventDto, EventPageDto } from './dto/event.dto';
import { ListEventsQuery } from './dto/list-events.query';
import { UpdateEventDto } from './dto/update-event.dto';
import { eventNotFound } from './events.errors';
import { EventsService } from './events.service';

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
  @ApiOkResponse({ type: EventPageDto })
  async list(@Query() query: ListEventsQuery): Promise<EventPageDto> {
    const { items, total } = await this.events.list(query);
    return { items: items.map(EventDto.from), total, limit: query.limit, offset: query.offset };
  }

  @Public()
  @Get(':id')
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
  @ApiOkResponse({ type: EventDto })
  @ApiNotFoundResponse({ description: 'No such event (problem+json)' })
  async update(
    @EventId() id: string,
    @Body() dto: UpdateEventDto,
    @CurrentUser() user: SessionUser,
  ): Promise<EventDto> {
    return EventDto.from(await this.events.update(id, dto, user));
  }
}
