import { Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Req, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Idempotent, type IdempotentRequest } from '../../platform/idempotency';
import { CurrentUser, Roles, type SessionUser } from '../../platform/session';
import { Throttle } from '../../platform/throttler';
import { eventNotFound } from '../events';
import { ExportAcceptedDto } from './dto/export.dto';
import { ExportsService } from './exports.service';
import { exportNotFound } from './reports.errors';

interface HeaderReply {
  header(name: string, value: string): unknown;
}

@ApiTags('reports')
@ApiBearerAuth()
@Controller()
export class ExportsController {
  constructor(private readonly exports: ExportsService) {}

  /**
   * Starts a CSV export of the event's orders: 202 with the job, `Location: /jobs/:id`.
   * An `Idempotency-Key` is optional here; with one, a retry maps to the same job.
   */
  @Post('events/:id/exports')
  @HttpCode(202)
  @Roles('organizer', 'admin')
  @Throttle({ exports: {} })
  @Idempotent({ required: false })
  @ApiAcceptedResponse({ type: ExportAcceptedDto })
  async create(
    @Param('id', new ParseUUIDPipe({ exceptionFactory: () => eventNotFound() })) eventId: string,
    @CurrentUser() user: SessionUser,
    @Req() request: IdempotentRequest,
    @Res({ passthrough: true }) reply: HeaderReply,
  ): Promise<ExportAcceptedDto> {
    const job = await this.exports.request(eventId, user, request.idempotencyKey);
    reply.header('Location', `/jobs/${job.id}`);
    return ExportAcceptedDto.from(job);
  }

  /** The finished CSV, to the user who requested it. */
  @Get('exports/:id/download')
  @ApiProduces('text/csv')
  @ApiOkResponse({ description: 'The CSV of the orders', content: { 'text/csv': { schema: { type: 'string' } } } })
  async download(
    @Param('id', new ParseUUIDPipe({ exceptionFactory: () => exportNotFound() })) id: string,
    @CurrentUser() user: SessionUser,
    @Res({ passthrough: true }) reply: HeaderReply,
  ): Promise<string> {
    const { csv, eventId } = await this.exports.download(id, user);
    reply.header('Content-Type', 'text/csv; charset=utf-8');
    reply.header('Content-Disposition', `attachment; filename="event-${eventId}-orders.csv"`);
    reply.header('Cache-Control', 'private, no-store');
    return csv;
  }
}
