// A users service with REST routes: what the gateway example serves. Run alone on another node
// (`flotilla run examples/gateway/users.ts`) and the gateway picks its routes up over the network.
import { defineService, FlotillaError } from "flotilla";
import { SignJWT } from "jose";
import { z } from "zod";

export const JWT_SECRET = process.env.JWT_SECRET ?? "change-me-change-me-change-me-32b";

const User = z.object({ id: z.number().int(), name: z.string(), email: z.email() });
type User = z.infer<typeof User>;
const people = new Map<number, User>([[1, { id: 1, name: "Ada", email: "ada@example.com" }]]);

export const users = defineService({
  name: "users",
  actions: {
    list: {
      params: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) }),
      result: z.array(User),
      rest: "GET /users",
      visibility: "published",
      summary: "List users",
      handler: (ctx) => [...people.values()].slice(0, ctx.params.limit),
    },
    get: {
      params: z.object({ id: z.coerce.number().int().positive() }),
      result: User,
      rest: "GET /users/:id",
      visibility: "published",
      summary: "One user",
      handler(ctx) {
        const user = people.get(ctx.params.id);
        if (user === undefined) throw new FlotillaError("No such user.", "USER_NOT_FOUND", 404);
        return user;
      },
    },
    create: {
      params: User.omit({ id: true }),
      result: User,
      rest: "POST /users",
      visibility: "published",
      summary: "Register a user",
      handler(ctx) {
        const user = { id: people.size + 1, ...ctx.params };
        people.set(user.id, user);
        return user;
      },
    },
    me: {
      rest: "GET /me",
      visibility: "published",
      summary: "Who the bearer token says you are",
      handler: (ctx) => ctx.meta.user,
    },
    login: {
      params: z.object({ name: z.string().min(1) }),
      summary: "Get a token (any name will do in this example)",
      handler: async (ctx) => ({
        token: await new SignJWT({ name: ctx.params.name })
          .setProtectedHeader({ alg: "HS256" })
          .setSubject(ctx.params.name)
          .setExpirationTime("1h")
          .sign(new TextEncoder().encode(JWT_SECRET)),
      }),
    },
  },
});

export default users;
