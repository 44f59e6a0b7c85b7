import { Module, type DynamicModule } from '@nestjs/common';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { FakePaymentProvider, type FakePaymentOptions } from './fake-payment.provider';
import { OrderEntity } from './order.entity';
import { OrdersController } from './orders.controller';
import { OrdersService } from './orders.service';
import { ORDERS_SETTINGS, type OrdersSettings } from './orders.settings';
import { PAYMENT_PROVIDER } from './payment-provider';
import { PaymentsService } from './payments.service';
import { ReservationsService } from './reservations.service';

/** Seat reservations, orders and payments (the fake provider stands for the real one). */
@Module({})
export class OrdersModule {
  static forRoot(settings: OrdersSettings & { payments: FakePaymentOptions }): DynamicModule {
    return {
      module: OrdersModule,
      imports: [TypeOrmModule.forFeature([OrderEntity])],
      controllers: [OrdersController],
      providers: [
        { provide: ORDERS_SETTINGS, useValue: settings },
        {
          provide: PAYMENT_PROVIDER,
          inject: [getDataSourceToken()],
          useFactory: (dataSource: DataSource) => new FakePaymentProvider(dataSource, settings.payments),
        },
        ReservationsService,
        PaymentsService,
        OrdersService,
      ],
      exports: [ReservationsService, PaymentsService, OrdersService],
    };
  }
}
