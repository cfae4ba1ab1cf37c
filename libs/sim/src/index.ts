// libs/sim: the deterministic simulation kernel (virtual clock, splittable PRNG, event queue,
// epoch arithmetic) and the event vocabulary the models emit. No I/O, no wall clock.
export * from './clock';
export * from './prng';
export * from './event-queue';
export * from './epoch';
export * from './events';
export * from './snapshot.codec';
