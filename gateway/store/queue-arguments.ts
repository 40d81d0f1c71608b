/** Queue names become part of store keys. */
const QUEUE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** The argument checks both stores' queue operations share. */
export function assertQueueArguments(queue: string, limits: { maxLength?: number; max?: number; leaseSeconds?: number } = {}): void {
  if (!QUEUE_NAME.test(queue)) throw new RangeError(`queue name must be 1-64 of A-Za-z0-9._- (got ${JSON.stringify(queue)})`);
  for (const [name, value] of Object.entries(limits)) {
    if (name === 'leaseSeconds' ? !(Number.isFinite(value) && value > 0) : !(Number.isSafeInteger(value) && value >= 1)) {
      throw new RangeError(`${name} must be ${name === 'leaseSeconds' ? 'a positive number' : 'an integer >= 1'}, got ${value}`);
    }
  }
}
