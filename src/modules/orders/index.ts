export { OrdersModule } from './orders.module';
export { OrderEntity, type OrderStatus } from './order.entity';
export { OrderDto } from './dto/order.dto';
export { ReservationsService } from './reservations.service';
export { ORDER_COLUMNS, USER_ORDERS_SQL, expireHoldsSql, HOLD_SQL } from './orders.sql';
export { PaymentsService } from './payments.service';
export { PAYMENT_PROVIDER, type PaymentProvider } from './payment-provider';
export { ORDER_PAID, ORDER_EVENTS_LISTENER, type OrderEventsListener, type OrderPaidPayload } from './order-events';
