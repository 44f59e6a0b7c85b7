import { HttpStatus } from '@nestjs/common';
import { ProblemException } from '../../platform/http';

export const webhookEndpointNotFound = () =>
  new ProblemException(HttpStatus.NOT_FOUND, {
    type: 'webhook-endpoint-not-found',
    title: 'Webhook endpoint not found',
    detail: 'No webhook endpoint of yours has this id.',
  });

export const webhookDeliveryNotFound = () =>
  new ProblemException(HttpStatus.NOT_FOUND, {
    type: 'webhook-delivery-not-found',
    title: 'Webhook delivery not found',
    detail: 'No webhook delivery of yours has this id.',
  });

/** The URL is well-formed but its scheme is not allowed here: the same shape as any field error. */
export const webhookUrlInvalid = (message: string) =>
  new ProblemException(HttpStatus.BAD_REQUEST, {
    type: 'validation-error',
    title: 'Request validation failed',
    detail: 'One or more fields are invalid.',
    extensions: { errors: [{ field: 'url', messages: [message] }] },
  });

/** The host resolves to a non-public address (SSRF guard); which one is not said, to leak nothing about the network. */
export const webhookDestinationForbidden = () =>
  new ProblemException(HttpStatus.UNPROCESSABLE_ENTITY, {
    type: 'webhook-destination-forbidden',
    title: 'Webhook destination not allowed',
    detail:
      'The URL resolves to an address that is not publicly routable (private, loopback, link-local, ' +
      'unique-local, shared, multicast or reserved). Webhooks are only sent to public addresses.',
  });

export const webhookDestinationUnresolvable = () =>
  new ProblemException(HttpStatus.UNPROCESSABLE_ENTITY, {
    type: 'webhook-destination-unresolvable',
    title: 'Webhook destination not found',
    detail: "The URL's host name does not resolve to any address.",
  });

export const webhookEndpointLimit = (max: number) =>
  new ProblemException(HttpStatus.CONFLICT, {
    type: 'webhook-endpoint-limit',
    title: 'Too many webhook endpoints',
    detail: `An organizer may have ${max} webhook endpoints; delete one first.`,
    extensions: { limit: max },
  });

export const webhookDeliveryNotDead = (status: string) =>
  new ProblemException(HttpStatus.CONFLICT, {
    type: 'webhook-delivery-not-dead',
    title: 'Delivery cannot be replayed',
    detail: `Only dead deliveries can be replayed; this one is ${status}.`,
    extensions: { deliveryStatus: status },
  });

export const webhookEndpointDeleted = () =>
  new ProblemException(HttpStatus.CONFLICT, {
    type: 'webhook-endpoint-deleted',
    title: 'Webhook endpoint deleted',
    detail: "The delivery's endpoint was deleted; register the URL again to receive new events.",
  });
