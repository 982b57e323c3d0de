// Outputs are written under a temporary name in the same folder and renamed: a reader never sees a
// half-written file, and a failure leaves the old file (or none).
import { rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
