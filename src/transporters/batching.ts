/**
 * Messages after which a transporter that corks its socket for a burst (the frames or publishes
 * of one tick, sent with one `writev`) flushes before the burst ends. Holding a whole burst (64
 * replies, say) made the two ends of a connection take turns: the peer sat idle while this side
 * built the burst, then this side while the peer worked through it. Flushing every 16 keeps both
 * busy at once and still makes few writes: at 64 calls in flight, 1.3–1.6× the calls per second
 * of one flush per burst on `tcp://` and `redis://` (bench/README.md, "Transports side by side").
 */
export const FLUSH_EVERY = 16;
