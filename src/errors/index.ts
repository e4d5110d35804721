export * from "./access.js";
export * from "./catalogue.js";
export * from "./data.js";
export * from "./errors.js";
export * from "./infrastructure.js";
export * from "./limits.js";
export * from "./plain.js";
export * from "./snapshots.js";
