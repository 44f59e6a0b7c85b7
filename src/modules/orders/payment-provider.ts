import { Inject } from '@nestjs/common';

export interface Charge {
  id: string;
}

export interface ChargeRequest {
  orderId: string;
  amountCents: number;
  currency: string;
}

/** The provider declined the charge (a card problem): the order stays unpaid. */
export class PaymentDeclinedError extends Error {}
/** The provider could not be reached or failed: nothing is known to be charged; retry. */
export class PaymentProviderError extends Error {}

/**
 * The payment-provider port. `charge` is idempotent per order, as real providers are per
 * idempotency key: asking twice for one order returns the first charge.
 */
export interface PaymentProvider {
  charge(request: ChargeRequest): Promise<Charge>;
  refund(chargeId: string): Promise<void>;
}

export const PAYMENT_PROVIDER = Symbol('PAYMENT_PROVIDER');
export const InjectPaymentProvider = (): ParameterDecorator & PropertyDecorator => Inject(PAYMENT_PROVIDER);
