// Text written into a message buffer by the wire encoders (kafka-wire.ts, amqp-wire.ts). A short
// ASCII string is copied unit by unit: Buffer's write is a native call that costs about three times
// as much on the dozen short header names and values of every message.

const SHORT = 64;

/** Writes `value` as UTF-8 into `buf` at `at` (which has room for it); returns the bytes written. */
export function writeText(buf: Buffer, at: number, value: string): number {
  const { length } = value;
  if (length <= SHORT) {
    let i = 0;
    for (; i < length; i++) {
      const unit = value.charCodeAt(i);
      if (unit > 0x7f) break;
      buf[at + i] = unit;
    }
    if (i === length) return length;
  }
  return buf.write(value, at, 'utf8');
}
