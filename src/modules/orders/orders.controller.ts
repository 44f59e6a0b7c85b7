import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Idempotent, type IdempotentRequest } from '../../platform/idempotency';
import { Lock, WithLock, type LockHandle } from '../../platform/lock';
import { CurrentUser, type SessionUser } from '../../platform/session';
import { Throttle } from '../../platform/throttler';
import { eventNotFound } from '../events';
import { ListOrdersQuery } from './dto/list-orders.query';
import { OrderDto, OrderPageDto } from './dto/order.dto';
import { ReserveDto } from './dto/reserve.dto';
import { orderNotFound } from './orders.errors';
import { OrdersService } from './orders.service';
import { PaymentsService } from './payments.service';
import { ReservationsService } from './reservations.service';

const EventId = () => Param('id', new ParseUUIDPipe({ exceptionFactory: () => eventNotFound() }));
const OrderId = () => Param('id', new ParseUUIDPipe({ exceptionFactory: () => orderNotFound() }));

interface HeaderReply {
  header(name: string, value: string): unknown;
}

@ApiTags('orders')
@ApiBearerAuth()
@Controller()
export class OrdersController {
  constructor(
    private readonly reservations: ReservationsService,
    private readonly payments: PaymentsService,
    private readonly orders: OrdersService,
  ) {}

  /** Holds seats for the caller (an order in `held`), until paid or the hold expires. */
  @Post('events/:id/reservations')
  @HttpCode(201)
  @Idempotent()
  @ApiCreatedResponse({ type: OrderDto })
  async reserve(
    @EventId() eventId: string,
    @Body() dto: ReserveDto,
    @CurrentUser() user: SessionUser,
    @Req() request: IdempotentRequest,
    @Res({ passthrough: true }) reply: HeaderReply,
  ): Promise<OrderDto> {
    const order = await this.reservations.reserve(eventId, user.id, dto.quantity, request.idempotencyKey);
    reply.header('Location', `/orders/${order.id}`);
    return OrderDto.from(order);
  }

  /** Pays a held order: idempotent, one payment of an order at a time, never charged twice. */
  @Post('orders/:id/payment')
  @HttpCode(200)
  @Throttle({ payment: {} })
  // Listed first, applied last: the idempotency interceptor runs outside the lock, so a replay
  // or a 409 never waits for the lock.
  @WithLock('order:{id}')
  @Idempotent()
  @ApiOkResponse({ type: OrderDto })
  async pay(@OrderId() id: string, @CurrentUser() user: SessionUser, @Lock() lock: LockHandle): Promise<OrderDto> {
    return OrderDto.from(await this.payments.pay(id, user.id, lock));
  }

  @Get('orders/:id')
  @ApiOkResponse({ type: OrderDto })
  async get(@OrderId() id: string, @CurrentUser() user: SessionUser): Promise<OrderDto> {
    return OrderDto.from(await this.orders.get(id, user));
  }

  /** The caller's orders, newest first. */
  @Get('orders')
  @ApiOkResponse({ type: OrderPageDto })
  async list(@Query() query: ListOrdersQuery, @CurrentUser() user: SessionUser): Promise<OrderPageDto> {
    const { items, total } = await this.orders.list(user.id, query);
    return { items: items.map(OrderDto.from), total, limit: query.limit, offset: query.offset };
  }
}
