// The lab's building blocks, for tests and the rollout e2e suites.
export * from "./doctor";
export * from "./kit";
export * from "./lab";
export * from "./procs";
export * from "./sshd";
export { main } from "./cli";
