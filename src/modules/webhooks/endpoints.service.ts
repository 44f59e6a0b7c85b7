import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { DestinationError, DestinationGuard } from './destination-guard';
import type { CreateWebhookEndpointDto } from './dto/create-endpoint.dto';
import type { EndpointRow } from './dto/endpoint.dto';
import { newSigningSecret } from './webhook-signature';
import {
  webhookDestinationForbidden,
  webhookDestinationUnresolvable,
  webhookEndpointLimit,
  webhookEndpointNotFound,
  webhookUrlInvalid,
} from './webhooks.errors';
import { MAX_ENDPOINTS_PER_ORGANIZER, WEBHOOKS_SETTINGS, type WebhooksSettings } from './webhooks.settings';

/** An organizer's webhook endpoints: registration (with the SSRF check), listing, deletion. */
@Injectable()
export class EndpointsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(WEBHOOKS_SETTINGS) private readonly settings: WebhooksSettings,
    private readonly guard: DestinationGuard,
  ) {}

  async register(
    organizerId: string,
    dto: CreateWebhookEndpointDto,
  ): Promise<{ endpoint: EndpointRow; secret: string }> {
    const url = new URL(dto.url);
    if (url.protocol !== 'https:' && !this.settings.allowHttp) throw webhookUrlInvalid('url must use https');
    try {
      await this.guard.check(url);
    } catch (error) {
      if (error instanceof DestinationError) {
        throw error.reason === 'forbidden' ? webhookDestinationForbidden() : webhookDestinationUnresolvable();
      }
      throw error;
    }
    const secret = newSigningSecret();
    // The count and the insert are one statement: a burst of registrations cannot pass the cap by much.
    const [endpoint] = (await this.dataSource.query(
      `INSERT INTO webhook_endpoints (organizer_id, url, description, secret)
       SELECT $1, $2, $3, $4
        WHERE (SELECT count(*) FROM webhook_endpoints WHERE organizer_id = $1 AND deleted_at IS NULL) < $5
       RETURNING id, url, description, created_at`,
      [organizerId, url.href, dto.description ?? null, secret, MAX_ENDPOINTS_PER_ORGANIZER],
    )) as EndpointRow[];
    if (!endpoint) throw webhookEndpointLimit(MAX_ENDPOINTS_PER_ORGANIZER);
    return { endpoint, secret };
  }

  async list(
    organizerId: string,
    page: { limit: number; offset: number },
  ): Promise<{ items: EndpointRow[]; total: number }> {
    const [items, [count]] = await Promise.all([
      this.dataSource.query(
        `SELECT id, url, description, created_at FROM webhook_endpoints
          WHERE organizer_id = $1 AND deleted_at IS NULL
          ORDER BY created_at DESC, id LIMIT $2 OFFSET $3`,
        [organizerId, page.limit, page.offset],
      ) as Promise<EndpointRow[]>,
      this.dataSource.query(
        'SELECT count(*)::int AS total FROM webhook_endpoints WHERE organizer_id = $1 AND deleted_at IS NULL',
        [organizerId],
      ) as Promise<{ total: number }[]>,
    ]);
    return { items, total: count?.total ?? 0 };
  }

  /**
   * Stops an endpoint: no new deliveries, and its pending ones end as dead (kept, with the
   * endpoint row, for their history). One statement, so no delivery is created in between.
   */
  async remove(id: string, organizerId: string): Promise<void> {
    const rows = (await this.dataSource.query(
      `WITH removed AS (
         UPDATE webhook_endpoints SET deleted_at = now()
          WHERE id = $1 AND organizer_id = $2 AND deleted_at IS NULL
         RETURNING id
       ), stopped AS (
         UPDATE webhook_deliveries d
            SET status = 'dead', last_error = 'the endpoint was deleted', next_attempt_at = NULL, updated_at = now()
           FROM removed r WHERE d.endpoint_id = r.id AND d.status = 'pending'
         RETURNING d.id
       ) SELECT id FROM removed`,
      [id, organizerId],
    )) as { id: string }[];
    if (!rows.length) throw webhookEndpointNotFound();
  }
}
