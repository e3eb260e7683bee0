export { createApiClient } from "./client";
export {
  ApiError,
  apiErrorFrom,
  describeValidationIssues,
  fieldErrorsOf,
  isApiError,
  messageOf,
  networkError,
} from "./errors";
export type { ErrorBody, ValidationIssue } from "./errors";
export { DEFAULT_RESOURCES, MAX_PAGE_SIZE, Resources } from "./resources";
export type {
  ListRequest,
  ListResult,
  Operation,
  ResourceConfig,
  ResourceMap,
  Row,
  SortSpec,
} from "./resources";
export { canAccess, DEFAULT_ADMIN_ONLY_RESOURCES } from "./access";
export { LiveUpdates, liveUpdates } from "./live";
export type { LiveChange, LiveListener, LiveOptions } from "./live";
export type { AccessOptions } from "./access";
export {
  ApiSession,
  isAbortError,
  resolveBaseUrl,
  sharedSession,
  toQueryString,
  TWO_FACTOR_REQUIRED,
} from "./session";
export type {
  ApiResponse,
  ApiSessionOptions,
  AuthMode,
  LoginParams,
  LockRunner,
  QueryParams,
  RequestOptions,
  SessionEndReason,
  TokenStorage,
} from "./session";
