import { statSync } from 'node:fs';
import { StoreUnavailableError } from './guarded-store';

export interface FileIdentity {
  dev: number;
  ino: number;
}

/** Device and inode of the file at `file` now. */
export function fileIdentity(file: string): FileIdentity {
  const stat = statSync(file);
  return { dev: stat.dev, ino: stat.ino };
}

/**
 * A check that throws when the path no longer names the file the service opened: deleted (writes would go to
 * a file no one can read again) or replaced (a restore under a running service). One stat call, cheap enough
 * before and after every operation. The service keeps answering 503 until it is restarted, which reopens the
 * path (and checks the replaced file's integrity).
 */
export function sameFileCheck(file: string, opened: FileIdentity): () => void {
  return () => {
    const now = statSync(file, { throwIfNoEntry: false });
    if (now === undefined) {
      throw new StoreUnavailableError(
        'file_changed',
        `the SQLite file ${file} was deleted under the running service; nothing written since is kept: restart the service to open a new store there (or restore a backup while it is stopped)`,
      );
    }
    if (now.dev !== opened.dev || now.ino !== opened.ino) {
      throw new StoreUnavailableError(
        'file_changed',
        `the SQLite file ${file} was replaced under the running service (another file now has its name); restart the service to open the file that is there now (a restore is done while the service is stopped)`,
      );
    }
  };
}

/** `PRAGMA quick_check` answered something other than ok: the file is damaged. */
export class StoreCorruptError extends Error {
  constructor(file: string, problems: string[]) {
    super(
      `the SQLite file ${file} fails its integrity check (PRAGMA quick_check): ${problems.slice(0, 3).join('; ').slice(0, 500)}; restore a backup (see store backup) while the service is stopped`,
    );
    this.name = 'StoreCorruptError';
  }
}
