// Every contender by kind. Each one loads its framework's packages only inside serve/client, so
// importing this file costs nothing and a missing package fails only the contender that needs it.
import type { Contender, Kind } from "../contract.js";
import { flotilla } from "./flotilla.js";
import { moleculer } from "./moleculer.js";
import { nestjs } from "./nestjs.js";
import { raw } from "./raw.js";

export const contenders: Record<Kind, Contender> = { raw, flotilla, moleculer, nestjs };
