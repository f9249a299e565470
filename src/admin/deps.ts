import type { Config } from '../config/load';
import type { ForwardConfig } from '../forward/config';
import type { ReleaseRecorder } from '../recover/release-recorder';
import type { Store } from '../store/types';
import type { Logger } from '../telemetry/logger';
import type { AdminConfig } from './config';
import type { AdminMetrics } from './metrics';
import type { DiagnosisWords } from './runbook-words';
import type { Sessions } from './session';
import type { SignInLimiter } from './sign-in-limiter';

export interface AdminDeps {
  admin: AdminConfig & { token: string };
  config: Config;
  store: Store;
  logger: Logger;
  record: ReleaseRecorder;
  forwardConfig: ForwardConfig | undefined;
  storeDescription: string;
  telemetryDescription: string;
  autoReplay: boolean;
  metrics?: AdminMetrics;
  /** Built from `admin` when not given (tests pass their own limiter). */
  sessions?: Sessions;
  limiter?: SignInLimiter;
  words?: Map<string, DiagnosisWords>;
}
