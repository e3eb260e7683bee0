/**
 * The API's error bodies, turned into one error type both admin frameworks adapt.
 *
 * The API answers errors as `{"detail": "...", "code": "..."}`; a 422 keeps
 * FastAPI's list `{"detail": [{"type", "loc", "msg"}, ...]}`. `ApiError` carries a
 * readable `message`, the HTTP `status`, the machine-readable `code` (when the
 * server sends one) and, for a 422, the message of each request-body field.
 */

/** One entry of FastAPI's 422 `detail` list. */
export interface ValidationIssue {
  type?: string;
  loc: (string | number)[];
  msg: string;
}

/** The JSON body of an error response, as far as the clients rely on it. */
export interface ErrorBody {
  detail?: string | ValidationIssue[] | unknown;
  code?: string;
  [key: string]: unknown;
}

export class ApiError extends Error {
  override readonly name = "ApiError";
  /** HTTP status; 0 when the server could not be reached. */
  readonly status: number;
  /** Stable machine-readable code from the body (e.g. `LOGIN_BAD_CREDENTIALS`), if any. */
  readonly code: string | undefined;
  /** The parsed response body (or `null` when there was none or it was not JSON). */
  readonly body: ErrorBody | null;
  /** For a 422: message per request-body field, keyed by its camelCase path (`password`, `address.city`). */
  readonly fieldErrors: Record<string, string>;
  /** The response, when there was one. */
  readonly response: Response | undefined;

  constructor(
    message: string,
    options: {
      status: number;
      code?: string | undefined;
      body?: ErrorBody | null;
      fieldErrors?: Record<string, string>;
      response?: Response | undefined;
      cause?: unknown;
    },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.code = options.code;
    this.body = options.body ?? null;
    this.fieldErrors = options.fieldErrors ?? {};
    this.response = options.response;
  }
}

export function isApiError(error: unknown): error is ApiError {
  return error instanceof ApiError;
}

function isValidationIssue(value: unknown): value is ValidationIssue {
  return (
    typeof value === "object" &&
    value !== null &&
    Array.isArray((value as ValidationIssue).loc) &&
    typeof (value as ValidationIssue).msg === "string"
  );
}

/** Where the issue is, without FastAPI's leading `body` / `query` / `path` / `header`. */
function fieldPath(issue: ValidationIssue): string {
  const [where, ...rest] = issue.loc;
  const parts = ["body", "query", "path", "header", "cookie"].includes(String(where))
    ? rest
    : issue.loc;
  return parts.map(String).join(".");
}

/** Pydantic prefixes custom validator messages with "Value error, ": drop it. */
function cleanMessage(msg: string): string {
  return msg.replace(/^(Value|Assertion) error, /, "");
}

/** One readable line for a 422 list: `email: not a valid email; password: too short`. */
export function describeValidationIssues(issues: ValidationIssue[]): string {
  const lines = issues.map((issue) => {
    const path = fieldPath(issue);
    const msg = cleanMessage(issue.msg);
    return path ? `${path}: ${msg}` : msg;
  });
  return lines.join("; ") || "Invalid request";
}

/** Request-body fields named by a 422 list, each with its (first) message. */
export function fieldErrorsOf(issues: ValidationIssue[]): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const issue of issues) {
    if (issue.loc[0] !== "body") continue;
    const path = fieldPath(issue);
    if (path && !(path in errors)) errors[path] = cleanMessage(issue.msg);
  }
  return errors;
}

/** The message to show for an error body: `detail` when it is a string, the 422 list made readable. */
export function messageOf(body: unknown, status: number, statusText = ""): string {
  if (typeof body === "object" && body !== null && "detail" in body) {
    const detail = (body as ErrorBody).detail;
    if (typeof detail === "string" && detail) return detail;
    if (Array.isArray(detail) && detail.every(isValidationIssue)) {
      return describeValidationIssues(detail);
    }
  }
  if (typeof body === "string" && body.trim()) return body.trim().slice(0, 500);
  return statusText || `Request failed with status ${status}`;
}

/** Builds the `ApiError` for a response that is not ok, reading its body. */
export async function apiErrorFrom(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  let body: ErrorBody | null = null;
  if (text) {
    try {
      const parsed: unknown = JSON.parse(text);
      body = typeof parsed === "object" && parsed !== null ? (parsed as ErrorBody) : { detail: parsed };
    } catch {
      body = null;
    }
  }
  const detail = body?.detail;
  const issues = Array.isArray(detail) && detail.every(isValidationIssue) ? detail : [];
  return new ApiError(messageOf(body ?? text, response.status, response.statusText), {
    status: response.status,
    code: typeof body?.code === "string" ? body.code : undefined,
    body,
    fieldErrors: fieldErrorsOf(issues),
    response,
  });
}

/** The error for a request that never got an answer (network down, CORS refused, ...). */
export function networkError(cause: unknown): ApiError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new ApiError(`Could not reach the API (${reason})`, { status: 0, code: "NETWORK_ERROR", cause });
}
