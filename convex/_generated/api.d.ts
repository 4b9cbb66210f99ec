/* eslint-disable */
/**
 * Generated `api` utility.
 *
 * THIS CODE IS AUTOMATICALLY GENERATED.
 *
 * To regenerate, run `npx convex dev`.
 * @module
 */

import type {
  ApiFromModules,
  FilterApi,
  FunctionReference,
} from "convex/server";
import type * as activities from "../activities.js";
import type * as alerts from "../alerts.js";
import type * as auth from "../auth.js";
import type * as crons from "../crons.js";
import type * as ctxStore from "../ctxStore.js";
import type * as history from "../history.js";
import type * as http from "../http.js";
import type * as migrations from "../migrations.js";
import type * as overview from "../overview.js";
import type * as rollouts from "../rollouts.js";
import type * as runtimes from "../runtimes.js";
import type * as systemConfig from "../systemConfig.js";
import type * as validators from "../validators.js";

/**
 * A utility for referencing Convex functions in your app's API.
 *
 * Usage:
 * ```js
 * const myFunctionReference = api.myModule.myFunction;
 * ```
 */
declare const fullApi: ApiFromModules<{
  activities: typeof activities;
  alerts: typeof alerts;
  auth: typeof auth;
  crons: typeof crons;
  ctxStore: typeof ctxStore;
  history: typeof history;
  http: typeof http;
  migrations: typeof migrations;
  overview: typeof overview;
  rollouts: typeof rollouts;
  runtimes: typeof runtimes;
  systemConfig: typeof systemConfig;
  validators: typeof validators;
}>;
export declare const api: FilterApi<
  typeof fullApi,
  FunctionReference<any, "public">
>;
export declare const internal: FilterApi<
  typeof fullApi,
  FunctionReference<any, "internal">
>;
