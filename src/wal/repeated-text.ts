// Column text that repeats from row to row (a transaction's created_at and headers, an aggregate
// type, an event type), decoded once: while a column's bytes equal the previous row's, the previous
// string is returned, and with it what was derived from it (lastOf: the ISO time, the parsed
// headers). Rows of one transaction share now() and usually their headers; each copy would be a
// string (and an object) held in flight per event.

/** One column's previous value: its bytes, and the string decoded from them. */
export class RepeatedText {
  private bytes = Buffer.allocUnsafe(64);
  private length = -1;
  private text = '';

  /** The UTF-8 text of `length` bytes of `message` at `at`. */
  read(message: Buffer, at: number, length: number): string {
    if (length === this.length && this.bytes.compare(message, at, at + length, 0, length) === 0) {
      return this.text;
    }
    if (length > this.bytes.length) this.bytes = Buffer.allocUnsafe(Math.max(length, this.bytes.length * 2));
    message.copy(this.bytes, 0, at, at + length);
    this.length = length;
    this.text = message.toString('utf8', at, at + length);
    return this.text;
  }
}

/** `derive`, remembering its last input and result: the same string in gives the same value back. */
export function lastOf<T>(derive: (text: string) => T): (text: string) => T {
  let lastText: string | undefined;
  let lastValue: T;
  return (text) => {
    if (text !== lastText) {
      lastValue = derive(text);
      lastText = text;
    }
    return lastValue;
  };
}
