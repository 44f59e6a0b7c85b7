export { EventsModule } from './events.module';
export { EventsService } from './events.service';
export { EventEntity, type EventStatus } from './event.entity';
export { EventDto } from './dto/event.dto';
export { eventNotFound } from './events.errors';
