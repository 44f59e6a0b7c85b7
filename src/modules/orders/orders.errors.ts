import { HttpStatus } from '@nestjs/common';
import { ProblemException } from '../../platform/http';

export const orderNotFound = () =>
  new ProblemException(HttpStatus.NOT_FOUND, {
    type: 'order-not-found',
    title: 'Order not found',
    detail: 'No order of yours has this id.',
  });

export const soldOut = (available: number) =>
  new ProblemException(HttpStatus.CONFLICT, {
    type: 'sold-out',
    title: 'Not enough seats',
    detail: `Only ${available} seats are left.`,
    extensions: { seatsAvailable: available },
  });

export const eventNotOnSale = () =>
  new ProblemException(HttpStatus.CONFLICT, {
    type: 'event-not-on-sale',
    title: 'Event not on sale',
    detail: 'Seats can only be reserved for a published event.',
  });

export const orderAlreadyPaid = () =>
  new ProblemException(HttpStatus.CONFLICT, {
    type: 'order-already-paid',
    title: 'Order already paid',
    detail: 'This order has been paid already.',
  });

export const holdExpired = () =>
  new ProblemException(HttpStatus.CONFLICT, {
    type: 'hold-expired',
    title: 'Hold expired',
    detail: 'The seats of this order were released; reserve again.',
  });

export const paymentDeclined = (detail: string) =>
  new ProblemException(HttpStatus.PAYMENT_REQUIRED, { type: 'payment-declined', title: 'Payment declined', detail });

export const paymentProviderFailed = () =>
  new ProblemException(HttpStatus.BAD_GATEWAY, {
    type: 'payment-provider-error',
    title: 'Payment provider error',
    detail: 'The payment provider did not complete the charge; retry with the same Idempotency-Key.',
  });

/** The lock was lost to another holder before this request could write: its write was refused. */
export const staleLockHolder = () =>
  new ProblemException(HttpStatus.CONFLICT, {
    type: 'stale-lock-holder',
    title: 'Superseded by another request',
    detail: 'Another request took over this order while this one was paused; its result stands.',
  });
