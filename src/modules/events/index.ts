export { EventsModule } from './events.module';
export { EventsService } from './events.service';
export { EVENT_COLUMNS } from './events.sql';
export { EventEntity, type EventStatus } from './event.entity';
export { EventDto } from './dto/event.dto';
export { eventNotFound } from './events.errors';
