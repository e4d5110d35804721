// An order as the orders service shows it (the README's `Order`), made from its row, and the
// payloads of the two events it emits.
import type { OrderStatus, OrdersDB } from "./migrations.js";

type OrderRow = OrdersDB["orders"];

/** One line of an order: what was reserved, at the price it was reserved at (cents). */
export interface OrderItem {
  productId: string;
  name: string;
  qty: number;
  price: number;
}

/** An order, as `orders.checkout`, `orders.list` and `orders.get` return it. */
export interface Order {
  id: string;
  userId: string;
  status: OrderStatus;
  /** Why it was rejected, for people. Only on rejected orders. */
  reason?: string;
  items: OrderItem[];
  /** Cents: the lines' `qty × price`. */
  subtotal: number;
  /** Cents taken off by the coupon. */
  discount: number;
  /** Cents to pay: `subtotal - discount`. */
  total: number;
  /** The coupon's code, when one was used. */
  coupon?: string;
  /** ISO 8601. */
  createdAt: string;
}

/** `orders.created`: a confirmed order, with what its confirmation mail lists. */
export interface OrderCreatedEvent {
  orderId: string;
  userId: string;
  email: string;
  total: number;
  items: OrderItem[];
  subtotal: number;
  discount: number;
  coupon?: string;
}

/** `orders.status`: an order ended `confirmed` or `rejected` (with the reason). */
export interface OrderStatusEvent {
  orderId: string;
  userId: string;
  /** Where the buyer is told (the rejection mail). */
  email: string;
  status: OrderStatus;
  reason?: string;
}

/** The order a row holds; optional fields are left out rather than `null`. */
export function orderOf(row: OrderRow): Order {
  const order: Order = {
    id: row.id,
    userId: row.user_id,
    status: row.status,
    items: JSON.parse(row.items) as OrderItem[],
    subtotal: row.subtotal,
    discount: row.discount,
    total: row.total,
    createdAt: row.created_at,
  };
  if (row.reason !== null) order.reason = row.reason;
  if (row.coupon !== null) order.coupon = row.coupon;
  return order;
}

/** The `orders.created` payload of a confirmed order's row. */
export function createdEventOf(row: OrderRow): OrderCreatedEvent {
  const order = orderOf(row);
  const event: OrderCreatedEvent = {
    orderId: order.id,
    userId: order.userId,
    email: row.email,
    total: order.total,
    items: order.items,
    subtotal: order.subtotal,
    discount: order.discount,
  };
  if (order.coupon !== undefined) event.coupon = order.coupon;
  return event;
}

/** The `orders.status` payload of a row (its status and, when rejected, the reason). */
export function statusEventOf(row: OrderRow): OrderStatusEvent {
  const event: OrderStatusEvent = {
    orderId: row.id,
    userId: row.user_id,
    email: row.email,
    status: row.status,
  };
  if (row.reason !== null) event.reason = row.reason;
  return event;
}
