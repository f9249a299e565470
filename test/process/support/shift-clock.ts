// Preloaded (--require) into one service process to put its clock CLOCK_SHIFT_MS ahead (or behind): Date.now()
// and `new Date()` without arguments, as a replica on a machine with a skewed clock would see them.
const shift = Number(process.env.CLOCK_SHIFT_MS ?? '0');
const RealDate = Date;
const realNow = RealDate.now.bind(RealDate);

class ShiftedDate extends RealDate {
  constructor(...args: unknown[]) {
    if (args.length === 0) super(realNow() + shift);
    else super(...(args as [string | number | Date]));
  }

  static override now(): number {
    return realNow() + shift;
  }
}

globalThis.Date = ShiftedDate as DateConstructor;
