import { randomBytes } from 'node:crypto';

// Crockford's base32, as ULID uses it: the ids sort as strings in the order they were made.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

let lastTime = -1;
/** encodeTime(lastTime), kept: ids are made on every accepted delivery, many within one millisecond. */
let lastPrefix = '';
let lastRandom: number[] = [];

/**
 * A ULID-like id: 10 characters of millisecond time, then 16 of randomness. Within one millisecond the
 * random part is incremented, so ids made by one process are strictly increasing.
 */
export function newId(now: number = Date.now()): string {
  if (now <= lastTime) {
    increment(lastRandom);
  } else {
    lastTime = now;
    lastPrefix = encodeTime(now);
    const bytes = randomBytes(16);
    lastRandom = new Array<number>(16);
    for (let i = 0; i < 16; i++) lastRandom[i] = bytes[i]! & 31;
  }
  let id = lastPrefix;
  for (let i = 0; i < 16; i++) id += ALPHABET[lastRandom[i]!];
  return id;
}

function encodeTime(time: number): string {
  let text = '';
  for (let i = 0; i < 10; i++) {
    text = ALPHABET[time % 32] + text;
    time = Math.floor(time / 32);
  }
  return text;
}

function increment(digits: number[]): void {
  for (let i = digits.length - 1; i >= 0; i--) {
    if (digits[i]! < 31) {
      digits[i] = digits[i]! + 1;
      return;
    }
    digits[i] = 0;
  }
}
