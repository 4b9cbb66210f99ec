// The canary analysis step: how the rollout's step machine asks for a verdict on a batch.
// The step machine (control/orchestrator.ts) calls an Analyzer; the statistics live in fleet/.
import type { AnalysisMode, AnalysisResult } from "../protocol/analysis";

export interface AnalysisRequest {
  rolloutId: string;
  stack: string;
  batch: number;
  mode: Exclude<AnalysisMode, "off">;
  /** The batch's upgraded runtimes that passed their deploy. */
  canary: string[];
  /** Runtimes still on the rollout's previous release (the control cohort is sampled from them). */
  controlCandidates: string[];
  /** The window, epoch ms, as the step recorded it: a resumed step keeps its end. */
  windowStart: number;
  windowEnd: number;
}

/** Samples both cohorts until the window's end (the clock's sleep), then judges. */
export type Analyzer = (req: AnalysisRequest) => Promise<AnalysisResult>;
