// System config: a value is validated with fleet/ rules, stored with who set it, and logged.
import type { ActivityRecord, ConfigValue, SystemConfigEntry, SystemConfigKey } from "../types";
import { ACTIVITY_FOR } from "./activities";
import { invalid } from "./errors";
import { configProblem } from "./validation";

export function setConfigEntry(key: SystemConfigKey, value: ConfigValue, updatedBy: string, now: number): { entry: SystemConfigEntry; activity: ActivityRecord } {
  const problem = configProblem(key, value);
  if (problem !== null) invalid(problem);
  return { entry: { key, value, updatedAt: now, updatedBy }, activity: ACTIVITY_FOR.configSet(key, value, updatedBy, now) };
}
