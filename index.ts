// The Pulumi program: stack config -> validated fleet -> one Runtime component each
// (components/program.ts; the fleet's engine runs the same body in its own process).
import { fleetProgram, optionsFromEnv } from "./components/program";

const outputs = fleetProgram(optionsFromEnv(process.env));

export const release = outputs.release;
export const fleetRuntimes = outputs.fleetRuntimes;
