import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { storeContract } from "../../store/contract";
import { LocalFleetStore } from "../../store/local";

storeContract("local (node:sqlite, temp file)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-store-"));
  const store = new LocalFleetStore({ path: join(dir, ".fleet", "prod.db") });
  return {
    store,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
