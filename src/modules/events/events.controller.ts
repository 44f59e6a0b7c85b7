import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
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

  @Get()
  @ApiOkResponse({ type: EventPageDto })
  async list(@Query() query: ListEventsQuery): Promise<EventPageDto> {
    const { items, total } = await this.events.list(query);
    return { items: items.map(EventDto.from), total, limit: query.limit, offset: query.offset };
  }

  @Get(':id')
  @ApiOkResponse({ type: EventDto })
  @ApiNotFoundResponse({ description: 'No such event (problem+json)' })
  async get(@EventId() id: string): Promise<EventDto> {
    return EventDto.from(await this.events.get(id));
  }

  // Write route: the sessions issue restricts it to organizers and takes organizerId from the session.
  @Post()
  @HttpCode(201)
  @ApiCreatedResponse({ type: EventDto })
  async create(@Body() dto: CreateEventDto, @Res({ passthrough: true }) reply: HeaderReply): Promise<EventDto> {
    const event = await this.events.create(dto, null);
    reply.header('Location', `/events/${event.id}`);
    return EventDto.from(event);
  }

  // Write route: the sessions issue restricts it to the owning organizer.
  @Patch(':id')
  @ApiOkResponse({ type: EventDto })
  @ApiNotFoundResponse({ description: 'No such event (problem+json)' })
  async update(@EventId() id: string, @Body() dto: UpdateEventDto): Promise<EventDto> {
    return EventDto.from(await this.events.update(id, dto));
  }
}
