export { WebhooksModule } from './webhooks.module';
export { type WebhooksSettings, WEBHOOKS_QUEUE } from './webhooks.settings';
export { AddressPolicy, classifyAddress, type AddressKind } from './address-policy';
export { webhookSignature } from './webhook-signature';
