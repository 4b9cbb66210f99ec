import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { addressFromOutputs, needsStackOutputs, probeTargets, runtimeAddress } from "../../fleet/addresses";

const id = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
const address = fc.oneof(fc.ipV4(), fc.domain());
/** What a stack's outputs may hold for a runtime: a good entry, or anything else. */
const entry = fc.oneof(
  address.map((a) => ({ address: a, versions: {} })),
  fc.constantFrom(null, 3, "10.0.0.1", [], {}, { address: "" }, { address: 7 }, { address: null }),
);

describe("a runtime's address", () => {
  it("is its host when it has one, else its droplet's address from the stack's outputs, else none", () => {
    fc.assert(
      fc.property(id, fc.option(address, { nil: undefined }), fc.option(entry, { nil: undefined }), (accountId, host, e) => {
        const outputs = { fleetRuntimes: e === undefined ? {} : { [accountId]: e } };
        const got = runtimeAddress({ accountId, host }, outputs);
        const fromStack = typeof e === "object" && e !== null && !Array.isArray(e) && typeof (e as { address?: unknown }).address === "string" && (e as { address: string }).address !== "" ? (e as { address: string }).address : undefined;
        expect(got).toBe(host ?? fromStack);
      }),
    );
  });

  it("reads nothing from outputs that are missing, unavailable or of another shape", () => {
    for (const outputs of [null, undefined, {}, { fleetRuntimes: null }, { fleetRuntimes: "x" }, { fleetRuntimes: { other: { address: "10.0.0.2" } } }]) {
      expect(addressFromOutputs(outputs, "acc-1")).toBeUndefined();
    }
    // an id that names a property of every object is no runtime
    expect(addressFromOutputs({ fleetRuntimes: {} }, "constructor")).toBeUndefined();
    expect(addressFromOutputs({ fleetRuntimes: { "acc-1": { address: "10.0.0.2" } } }, "acc-1")).toBe("10.0.0.2");
  });

  it("gives a probe target (address, health port) for every runtime with a known address, and says when the outputs are needed at all", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.record({ accountId: id, host: fc.option(address, { nil: undefined }), healthPort: fc.integer({ min: 1, max: 65535 }) }), { selector: (r) => r.accountId, maxLength: 12 }), (runtimes) => {
        const outputs = { fleetRuntimes: Object.fromEntries(runtimes.map((r, i) => [r.accountId, { address: `10.1.0.${i}` }])) };
        const targets = probeTargets(runtimes, outputs);
        expect(targets.map((t) => t.accountId)).toEqual(runtimes.map((r) => r.accountId));
        runtimes.forEach((r, i) => expect(targets[i]).toEqual({ accountId: r.accountId, address: r.host ?? `10.1.0.${i}`, port: r.healthPort }));
        expect(probeTargets(runtimes, null).map((t) => t.accountId)).toEqual(runtimes.filter((r) => r.host).map((r) => r.accountId));
        expect(needsStackOutputs(runtimes)).toBe(runtimes.some((r) => r.host === undefined));
      }),
    );
  });
});
