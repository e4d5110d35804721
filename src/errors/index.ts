export * from "./catalogue.js";
export * from "./errors.js";
export * from "./plain.js";
