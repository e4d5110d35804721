// The nameko bridge: a Flotilla node as a peer of a nameko 2.x cluster on RabbitMQ.
//
//   bridge.ts   the NamekoBridge middleware and namekoBridge(): lifecycle, routing of calls and events
//   client.ts   calls to nameko services (requests, reply queue, UnknownService, timeouts)
//   server.ts   calls from nameko to exposed local services (rpc-<service> queues)
//   events.ts   events both ways (<source>.events exchanges, handler queues by kind)
//   context.ts  nameko.* headers <-> ctx.meta.nameko, call ID stacks
//   errors.ts   exceptions as nameko serializes them (exc_type, exc_path, exc_args, value)
//   body.ts     bounded, checked reading of message bodies
//   names.ts    nameko's exchange and queue names
//   link.ts     the bridge's AMQP connection (amqplib, confirms)
//   options.ts  options and their checks
//   types.ts    NamekoService: typed calls to nameko services

export { type NamekoBridge, namekoBridge } from "./bridge.js";
export { namekoArgs } from "./client.js";
export { META_KEY as NAMEKO_META_KEY, type NamekoContext } from "./context.js";
export type { NamekoBridgeOptions } from "./options.js";
export type { NamekoMethods, NamekoService } from "./types.js";
