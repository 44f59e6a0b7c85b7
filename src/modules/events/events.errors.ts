import { HttpStatus } from '@nestjs/common';
import { ProblemException } from '../../platform/http';

export const eventNotFound = (id?: string) =>
  new ProblemException(HttpStatus.NOT_FOUND, {
    type: 'event-not-found',
    title: 'Event not found',
    detail: id ? `No event has the id ${id}.` : 'No event has this id.',
  });

export const capacityBelowSold = (sold: number) =>
  new ProblemException(HttpStatus.CONFLICT, {
    type: 'capacity-below-sold',
    title: 'Capacity below seats already sold',
    detail: `${sold} seats are sold or held; capacity cannot go below that.`,
    extensions: { seatsTaken: sold },
  });

export const invalidDateRange = () =>
  new ProblemException(HttpStatus.BAD_REQUEST, {
    type: 'validation-error',
    title: 'Request validation failed',
    detail: 'One or more fields are invalid.',
    extensions: { errors: [{ field: 'to', messages: ['to must be later than from'] }] },
  });

export const notEventOwner = () =>
  new ProblemException(HttpStatus.FORBIDDEN, {
    type: 'not-event-owner',
    title: 'Not your event',
    detail: 'Only the organizer of this event (or an admin) can change it.',
  });
