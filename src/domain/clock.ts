/** Time, injected: the domain never reads the clock itself, and tests move time instead of sleeping. */
export interface Clock {
  now(): number;
}
