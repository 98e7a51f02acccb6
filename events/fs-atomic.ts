// Atomic replacement of a file, off the event loop: write `file.tmp`, fsync it, rename it over
// `file`, fsync the directory. A crash leaves the old content or the new one (and perhaps a
// stale .tmp, which the next write replaces). Used for the publisher's checkpoint and the read
// models' snapshot.

import fs from 'node:fs';
import path from 'node:path';

export async function atomicWriteFile(file: string, data: Uint8Array): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await fs.promises.open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
  const dir = await fs.promises.open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** The file's bytes, or undefined if it does not exist. */
export function readFileIfExists(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
