import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import { CurrentUser, Roles, type SessionUser } from '../../platform/session';
import { DeliveriesService } from './deliveries.service';
import { CreateWebhookEndpointDto } from './dto/create-endpoint.dto';
import { WebhookDeliveryDetailDto, WebhookDeliveryDto, WebhookDeliveryPageDto } from './dto/delivery.dto';
import { CreatedWebhookEndpointDto, WebhookEndpointDto, WebhookEndpointPageDto } from './dto/endpoint.dto';
import { ListDeliveriesQuery } from './dto/list-deliveries.query';
import { ListEndpointsQuery } from './dto/list-endpoints.query';
import { EndpointsService } from './endpoints.service';
import { webhookDeliveryNotFound, webhookEndpointNotFound } from './webhooks.errors';

const EndpointId = () => Param('id', new ParseUUIDPipe({ exceptionFactory: () => webhookEndpointNotFound() }));
const DeliveryId = () => Param('id', new ParseUUIDPipe({ exceptionFactory: () => webhookDeliveryNotFound() }));

/**
 * Organizer webhooks: endpoints receive `order.paid` for the organizer's events, signed with the
 * Standard Webhooks scheme. Everyone sees only their own endpoints and deliveries; anybody
 * else's are "not found".
 */
@ApiTags('webhooks')
@ApiBearerAuth()
@Roles('organizer', 'admin')
@Controller('webhooks')
export class WebhooksController {
  constructor(
    private readonly endpoints: EndpointsService,
    private readonly deliveries: DeliveriesService,
  ) {}

  @Post('endpoints')
  @HttpCode(201)
  @ApiOperation({ summary: 'Registers an endpoint; the answer holds its signing secret, shown this once' })
  @ApiCreatedResponse({ type: CreatedWebhookEndpointDto })
  @ApiUnprocessableEntityResponse({
    description: 'webhook-destination-forbidden (resolves to a non-public address) or webhook-destination-unresolvable',
  })
  @ApiConflictResponse({ description: 'webhook-endpoint-limit' })
  async register(
    @Body() dto: CreateWebhookEndpointDto,
    @CurrentUser() user: SessionUser,
  ): Promise<CreatedWebhookEndpointDto> {
    const { endpoint, secret } = await this.endpoints.register(user.id, dto);
    return { ...WebhookEndpointDto.from(endpoint), secret };
  }

  @Get('endpoints')
  @ApiOperation({ summary: "The caller's endpoints, newest first (secrets are never listed)" })
  @ApiOkResponse({ type: WebhookEndpointPageDto })
  async listEndpoints(
    @Query() query: ListEndpointsQuery,
    @CurrentUser() user: SessionUser,
  ): Promise<WebhookEndpointPageDto> {
    const { items, total } = await this.endpoints.list(user.id, query);
    return { items: items.map(WebhookEndpointDto.from), total, limit: query.limit, offset: query.offset };
  }

  @Delete('endpoints/:id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Deletes an endpoint: no new deliveries; its pending ones end as dead' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: 'webhook-endpoint-not-found' })
  async removeEndpoint(@EndpointId() id: string, @CurrentUser() user: SessionUser): Promise<void> {
    await this.endpoints.remove(id, user.id);
  }

  @Get('deliveries')
  @ApiOperation({ summary: "The caller's deliveries, newest first; `status=dead` is the dead-letter list" })
  @ApiOkResponse({ type: WebhookDeliveryPageDto })
  async listDeliveries(
    @Query() query: ListDeliveriesQuery,
    @CurrentUser() user: SessionUser,
  ): Promise<WebhookDeliveryPageDto> {
    const { items, total } = await this.deliveries.list(user.id, query);
    return { items: items.map((row) => WebhookDeliveryDto.from(row)), total, limit: query.limit, offset: query.offset };
  }

  @Get('deliveries/:id')
  @ApiOperation({ summary: 'One delivery, with the body it sends' })
  @ApiOkResponse({ type: WebhookDeliveryDetailDto })
  @ApiNotFoundResponse({ description: 'webhook-delivery-not-found' })
  async getDelivery(@DeliveryId() id: string, @CurrentUser() user: SessionUser): Promise<WebhookDeliveryDetailDto> {
    return WebhookDeliveryDetailDto.from(await this.deliveries.get(id, user.id));
  }

  @Post('deliveries/:id/replay')
  @HttpCode(202)
  @ApiOperation({ summary: 'Sends a dead delivery again (same Webhook-Id and body, attempts from zero)' })
  @ApiAcceptedResponse({ type: WebhookDeliveryDto })
  @ApiNotFoundResponse({ description: 'webhook-delivery-not-found' })
  @ApiConflictResponse({ description: 'webhook-delivery-not-dead, webhook-endpoint-deleted' })
  async replay(@DeliveryId() id: string, @CurrentUser() user: SessionUser): Promise<WebhookDeliveryDto> {
    return WebhookDeliveryDto.from(await this.deliveries.replay(id, user.id));
  }
}
