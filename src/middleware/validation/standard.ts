import type { StandardSchemaV1 } from "@standard-schema/spec";
import { ValidationError, type ValidationIssue } from "../../errors/index.js";

/** Makes the error of a value that failed its schema (params: 422; results: 500). */
export type IssuesError = (message: string, issues: ValidationIssue[]) => Error;

const invalidInput: IssuesError = (message, issues) => new ValidationError(message, issues);

/** Whether a value is a Standard Schema (zod, valibot, arktype, ...). */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as Partial<StandardSchemaV1>)["~standard"]?.validate === "function"
  );
}

/**
 * Validates `value`; returns the schema's output (with coercions applied) or throws a
 * {@link ValidationError} (or what `fail` makes) listing every issue with its path. Sync schemas
 * stay sync.
 */
export function validate(
  schema: StandardSchemaV1,
  value: unknown,
  what: string,
  fail: IssuesError = invalidInput,
): unknown | Promise<unknown> {
  const result = schema["~standard"].validate(value);
  if (result instanceof Promise) return result.then((r) => unwrap(r, what, fail));
  return unwrap(result, what, fail);
}

function unwrap(
  result: StandardSchemaV1.Result<unknown>,
  what: string,
  fail: IssuesError,
): unknown {
  if (result.issues === undefined) return result.value;
  const issues = result.issues.map(toIssue);
  const first = issues[0];
  const where = first && first.path.length > 0 ? ` at '${first.path.join(".")}'` : "";
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
  throw fail(`Invalid ${what}${where}: ${first?.message ?? "invalid"}${more}`, issues);
}

function toIssue(issue: StandardSchemaV1.Issue): ValidationIssue {
  const path = (issue.path ?? []).map((segment) => {
    const key = typeof segment === "object" ? segment.key : segment;
    return typeof key === "number" ? key : String(key);
  });
  return { path, message: issue.message };
}
