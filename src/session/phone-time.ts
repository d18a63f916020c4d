import { BUILD_YEAR } from '../core/clock-sanity.js';
import { type AppClock, type AppTime, phoneTimeDecision } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Catalogue } from '../store/catalogue.js';

/**
 * The phone's time, sent with a trainer's login, for a kit whose own clock is not synchronised:
 * checked (phoneTimeDecision: not before the last time the kit wrote down, not far ahead), taken
 * into the app clock's offset and audited. Never sets the system clock, never moves the monotonic
 * clock; retention and erasure keep acting on the system's time (AppClock.systemNow).
 */
export class PhoneTime {
  constructor(
    private readonly deps: {
      clock: AppClock;
      catalogue: Pick<Catalogue, 'audit' | 'latestAuditTs'>;
      logger: Logger;
      /** Whether the system clock is synchronised (NTP); a synchronised kit ignores phones. */
      synchronised: () => Promise<boolean>;
    },
  ) {}

  /** Where the app's time comes from now. */
  time(): AppTime {
    return this.deps.clock.time();
  }

  /** Called after a successful login with the phone's time (absent: nothing happens). */
  async fromLogin(clientTime: number | undefined): Promise<AppTime> {
    const { clock, catalogue, logger } = this.deps;
    if (clientTime === undefined) return clock.time();
    let synchronised = false;
    try {
      synchronised = await this.deps.synchronised();
    } catch (err) {
      logger.warn('could not tell whether the clock is synchronised; taken as not', { error: describeError(err) });
    }
    const floorMs = Math.max(Date.UTC(BUILD_YEAR, 0, 1), catalogue.latestAuditTs() ?? 0);
    const decision = phoneTimeDecision({ phoneMs: clientTime, systemMs: clock.systemNow(), appMs: clock.now(), floorMs, synchronised });
    if (!decision.take) {
      if (decision.reason !== 'synchronised' && decision.reason !== 'close_enough') {
        catalogue.audit('clock.phone.refused', clock.now(), null, { reason: decision.reason });
        logger.warn("a phone's time was refused", { reason: decision.reason });
      }
      return clock.time();
    }
    const before = clock.time();
    const after = clock.followPhone(clientTime);
    catalogue.audit('clock.phone', clock.now(), null, { offsetMs: after.offsetMs, previousOffsetMs: before.offsetMs });
    logger.info("the app clock follows the trainer's phone", { offsetMs: after.offsetMs, previousOffsetMs: before.offsetMs });
    return after;
  }
}
