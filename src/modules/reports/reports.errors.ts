import { HttpStatus } from '@nestjs/common';
import { ProblemException } from '../../platform/http';

export const exportNotFound = () =>
  new ProblemException(HttpStatus.NOT_FOUND, {
    type: 'export-not-found',
    title: 'Export not found',
    detail: 'No export of yours has this id.',
  });

export const exportNotReady = (jobUrl: string) =>
  new ProblemException(HttpStatus.CONFLICT, {
    type: 'export-not-ready',
    title: 'Export not ready',
    detail: `The export is still being written; follow ${jobUrl} (or its /events stream) until it completes.`,
    headers: { 'Retry-After': '2', Link: `<${jobUrl}>; rel="monitor"` },
  });

export const exportFailed = () =>
  new ProblemException(HttpStatus.CONFLICT, {
    type: 'export-failed',
    title: 'Export failed',
    detail: 'The export could not be written; request a new one.',
  });

export const exportExpired = () =>
  new ProblemException(HttpStatus.GONE, {
    type: 'export-expired',
    title: 'Export expired',
    detail: 'The export is past its retention; request a new one.',
  });

export const notEventOrganizer = () =>
  new ProblemException(HttpStatus.FORBIDDEN, {
    type: 'not-event-organizer',
    title: 'Not your event',
    detail: "Only the event's organizer (or an admin) can export its orders.",
  });
